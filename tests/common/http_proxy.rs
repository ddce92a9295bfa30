//! An HTTP proxy that can lose an answer: in front of the homeserver, the request reaches the
//! server and is carried out, but the bridge gets a 502 instead (what a reverse proxy answers
//! when the connection to its upstream breaks). From then on every request gets a 502 until the
//! test lets traffic through again, so the test decides what happens before the retry. It can
//! hold requests (a bridge slow to answer) or only their answers (a client slow to hear what the
//! server did).

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicUsize, Ordering},
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::{Request, State},
    http::StatusCode,
    response::Response,
};
use tokio::sync::Notify;

pub struct HttpProxy {
    pub url: String,
    shared: Arc<Shared>,
}

struct Shared {
    target: String,
    http: reqwest::Client,
    state: Mutex<Mode>,
    lost: Notify,
    /// Rung when held requests may go on, and when one more is held.
    released: Notify,
    held: AtomicUsize,
    held_more: Notify,
}

#[derive(Debug, Clone, PartialEq)]
enum Mode {
    Pass,
    /// Lose the answer to the next request whose path contains this, then go down.
    LoseNext(String),
    Down,
    /// Requests whose path contains this wait until [`HttpProxy::pass`].
    Hold(String),
    /// Requests whose path contains this are carried out, their answers wait until
    /// [`HttpProxy::pass`].
    HoldAnswer(String),
}

impl HttpProxy {
    pub async fn start(target: &str) -> HttpProxy {
        Self::listen(0, target)
    }

    /// On `port` (0: a free one); serving starts at once, so this can run where no `.await` can.
    pub fn listen(port: u16, target: &str) -> HttpProxy {
        let shared = Arc::new(Shared {
            target: target.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            state: Mutex::new(Mode::Pass),
            lost: Notify::new(),
            released: Notify::new(),
            held: AtomicUsize::new(0),
            held_more: Notify::new(),
        });
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new().fallback(forward).with_state(shared.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        HttpProxy { url, shared }
    }

    /// Requests whose path contains `path_part` wait until [`HttpProxy::pass`].
    pub fn hold(&self, path_part: &str) {
        *self.shared.state.lock().unwrap() = Mode::Hold(path_part.to_owned());
    }

    /// Requests whose path contains `path_part` reach the server at once; their answers wait
    /// until [`HttpProxy::pass`] (what the server did is there before the client knows it).
    pub fn hold_answer(&self, path_part: &str) {
        *self.shared.state.lock().unwrap() = Mode::HoldAnswer(path_part.to_owned());
    }

    /// Waits until `count` requests (or answers) were held in all.
    pub async fn held(&self, count: usize) {
        loop {
            let more = self.shared.held_more.notified();
            if self.shared.held.load(Ordering::SeqCst) >= count {
                return;
            }
            more.await;
        }
    }

    /// The next request whose path contains `path_part` is carried out but its answer lost;
    /// every request after it fails until [`HttpProxy::pass`].
    pub fn lose_next_answer(&self, path_part: &str) {
        *self.shared.state.lock().unwrap() = Mode::LoseNext(path_part.to_owned());
    }

    /// Waits until an answer was lost.
    pub async fn answer_lost(&self) {
        loop {
            let lost = self.shared.lost.notified();
            if *self.shared.state.lock().unwrap() == Mode::Down {
                return;
            }
            lost.await;
        }
    }

    pub fn pass(&self) {
        *self.shared.state.lock().unwrap() = Mode::Pass;
        self.shared.released.notify_waiters();
    }
}

async fn forward(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let mut counted = false;
    let request_path = request.uri().path().to_owned();
    let lose = loop {
        let released = shared.released.notified();
        match &*shared.state.lock().unwrap() {
            Mode::Down => return bad_gateway(),
            Mode::LoseNext(part) => break request_path.contains(part.as_str()),
            Mode::Hold(part) if request_path.contains(part.as_str()) => {}
            Mode::Pass | Mode::Hold(_) | Mode::HoldAnswer(_) => break false,
        }
        shared.wait_released(released, &mut counted).await;
    };
    let (parts, body) = request.into_parts();
    let body: Bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut upstream = shared
        .http
        .request(parts.method, format!("{}{path}", shared.target))
        .body(body);
    for (name, value) in &parts.headers {
        if name != "host" {
            upstream = upstream.header(name, value);
        }
    }
    let Ok(answer) = upstream.send().await else {
        return bad_gateway();
    };
    if lose {
        *shared.state.lock().unwrap() = Mode::Down;
        shared.lost.notify_waiters();
        return bad_gateway();
    }
    let mut counted = false;
    loop {
        let released = shared.released.notified();
        match &*shared.state.lock().unwrap() {
            Mode::HoldAnswer(part) if request_path.contains(part.as_str()) => {}
            _ => break,
        }
        shared.wait_released(released, &mut counted).await;
    }
    let mut response = Response::builder().status(answer.status());
    // Hop-by-hop and length headers describe the upstream connection, not this answer.
    for (name, value) in answer.headers() {
        if !["transfer-encoding", "connection", "content-length"].contains(&name.as_str()) {
            response = response.header(name, value);
        }
    }
    response
        .body(Body::from(answer.bytes().await.unwrap_or_default()))
        .unwrap()
}

impl Shared {
    /// Counts a request as held (once) and waits for the next release.
    async fn wait_released(
        &self,
        released: tokio::sync::futures::Notified<'_>,
        counted: &mut bool,
    ) {
        if !*counted {
            *counted = true;
            self.held.fetch_add(1, Ordering::SeqCst);
            self.held_more.notify_waiters();
        }
        released.await;
    }
}

fn bad_gateway() -> Response {
    Response::builder()
        .status(StatusCode::BAD_GATEWAY)
        .body(Body::empty())
        .unwrap()
}
