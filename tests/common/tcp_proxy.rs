//! A TCP proxy in front of a server, whose outage a test controls: every open connection is cut
//! and new ones are dropped at once, as the bridge sees a database server restart. It can also
//! be pointed at another server, as a load balancer fails over.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tokio::{net::TcpListener, task::JoinHandle};

pub struct Proxy {
    pub port: u16,
    target: Arc<Mutex<SocketAddr>>,
    down: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Proxy {
        Self::start_on(0, target).await
    }

    /// Listening on `port` (0: a free one).
    pub async fn start_on(port: u16, target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let down = Arc::new(AtomicBool::new(false));
        let target = Arc::new(Mutex::new(target));
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = tokio::spawn({
            let (down, connections, target) = (down.clone(), connections.clone(), target.clone());
            async move {
                loop {
                    let Ok((mut client, _)) = listener.accept().await else {
                        continue;
                    };
                    if down.load(Ordering::SeqCst) {
                        continue; // dropped: the client sees the connection closed
                    }
                    let target = *target.lock().unwrap();
                    let task = tokio::spawn(async move {
                        if let Ok(mut server) = tokio::net::TcpStream::connect(target).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    let mut open = connections.lock().unwrap();
                    open.retain(|t| !t.is_finished());
                    open.push(task);
                }
            }
        });
        Proxy {
            port,
            target,
            down,
            connections,
            accept,
        }
    }

    /// Sends new connections to `target`; the open ones are cut.
    pub fn point_to(&self, target: SocketAddr) {
        *self.target.lock().unwrap() = target;
        for task in self.connections.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    /// Cuts every connection and refuses new ones for `duration`.
    pub async fn outage(&self, duration: Duration) {
        self.down.store(true, Ordering::SeqCst);
        for task in self.connections.lock().unwrap().drain(..) {
            task.abort();
        }
        tokio::time::sleep(duration).await;
        self.down.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        for task in self.connections.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}
