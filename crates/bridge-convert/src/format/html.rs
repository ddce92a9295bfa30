//! Matrix `formatted_body` HTML → Threema text.
//!
//! Parsing uses `ruma-html`: the Ruma project's parser for exactly this HTML (html5ever with a
//! small tree of its own, so no `scraper`/selectors stack), and the bridge has Ruma already.
//! It parses as a browser would: unclosed tags, entities and `<pre>`'s first newline included.

use ruma::html::{ElementData, Html, NodeData, NodeRef};

/// Deeper elements are dropped, like the spec's sanitizers do; bounds the recursion.
const MAX_DEPTH: usize = 100;

/// No break, a line break, a blank line.
const LINE: u8 = 1;
const PARAGRAPH: u8 = 2;

pub(super) fn html_to_threema(html: &str) -> String {
    let html = Html::parse(html);
    let mut out = Out::default();
    for child in html.children() {
        walk(&child, &mut out, Ctx::default());
    }
    drop_iteratively(html);
    out.buf.trim_start_matches('\n').trim_end().to_owned()
}

/// Drops the tree top-down. Its nodes drop their children recursively, which overflows a
/// small (tokio worker) stack on a deeply nested event well within Matrix's 64 KiB limit.
fn drop_iteratively(html: Html) {
    // Pre-order: each node comes before its children, so dropping the Vec front to back frees
    // a node while its children are still held here, one level at a time.
    let mut nodes: Vec<NodeRef> = Vec::new();
    let mut todo: Vec<NodeRef> = html.children().collect();
    todo.reverse();
    while let Some(node) = todo.pop() {
        let first = todo.len();
        todo.extend(node.children());
        todo[first..].reverse();
        nodes.push(node);
    }
    drop(html);
    drop(nodes);
}

/// Text being written, with the browser's whitespace collapsing and block separation.
#[derive(Default)]
struct Out {
    buf: String,
    /// Break wanted before the next content (`LINE` or `PARAGRAPH`).
    brk: u8,
    /// Collapsed whitespace wanted before the next content.
    space: bool,
    /// What was asked for before any content: a sub-render hands it to its parent.
    lead_brk: u8,
    lead_space: bool,
}

impl Out {
    fn block(&mut self, level: u8) {
        if self.buf.is_empty() {
            self.lead_brk = self.lead_brk.max(level);
        } else {
            self.brk = self.brk.max(level);
        }
        self.space = false;
    }

    /// Writes what is pending before content.
    fn flush(&mut self) {
        if !self.buf.is_empty() {
            let have = self.buf.len() - self.buf.trim_end_matches('\n').len();
            for _ in have..usize::from(self.brk) {
                self.buf.push('\n');
            }
            if self.space && !self.buf.ends_with('\n') {
                self.buf.push(' ');
            }
        }
        self.brk = 0;
        self.space = false;
    }

    /// Text from a text node: runs of HTML whitespace become one space, none at a line's ends.
    fn text(&mut self, text: &str) {
        for c in text.chars() {
            if c.is_ascii_whitespace() {
                if self.buf.is_empty() {
                    self.lead_space = true;
                }
                self.space = true;
            } else {
                self.flush();
                self.buf.push(c);
            }
        }
    }

    /// Text kept as is (`<pre>`, rendered sub-blocks).
    fn raw(&mut self, text: &str) {
        if !text.is_empty() {
            self.flush();
            self.buf.push_str(text);
        }
    }

    fn line_break(&mut self) {
        self.space = false;
        self.flush();
        self.buf.push('\n');
    }

    /// Writes an inline sub-render, each of its lines wrapped in `marker` (Threema spans end at
    /// line breaks), keeping the whitespace and breaks it had at its ends.
    fn inline(&mut self, sub: Out, marker: &str) {
        if sub.lead_brk > 0 {
            self.block(sub.lead_brk);
        } else if sub.lead_space {
            self.space = true;
        }
        if marker.is_empty() || sub.buf.trim().is_empty() {
            self.raw(&sub.buf);
        } else {
            let wrapped: Vec<String> = sub
                .buf
                .split('\n')
                .map(|line| {
                    let body = line.trim();
                    if body.is_empty() {
                        return line.to_owned();
                    }
                    let start = line.len() - line.trim_start().len();
                    let end = start + body.len();
                    format!("{}{marker}{body}{marker}{}", &line[..start], &line[end..])
                })
                .collect();
            self.raw(&wrapped.join("\n"));
        }
        if sub.brk > 0 {
            self.block(sub.brk);
        } else if sub.space {
            self.space = true;
        }
    }

    /// Writes a rendered block (list item, quote) on lines of its own.
    fn block_text(&mut self, text: &str, level: u8) {
        self.block(level);
        self.raw(text);
        self.block(level);
    }

    /// The rendered text without breaks at its ends, for blocks that prefix each line.
    fn into_block(self) -> String {
        self.buf.trim_matches('\n').trim_end().to_owned()
    }
}

#[derive(Clone, Copy, Default)]
struct Ctx {
    bold: bool,
    italic: bool,
    strike: bool,
    pre: bool,
    lists: usize,
    depth: usize,
}

impl Ctx {
    fn deeper(self) -> Self {
        Self {
            depth: self.depth + 1,
            ..self
        }
    }
}

fn walk(node: &NodeRef, out: &mut Out, ctx: Ctx) {
    match node.data() {
        NodeData::Text(text) if ctx.pre => out.raw(&text.borrow()),
        NodeData::Text(text) => out.text(&text.borrow()),
        NodeData::Element(el) if ctx.depth < MAX_DEPTH => element(node, el, out, ctx.deeper()),
        _ => {}
    }
}

fn children(node: &NodeRef, out: &mut Out, ctx: Ctx) {
    for child in node.children() {
        walk(&child, out, ctx);
    }
}

fn render(node: &NodeRef, ctx: Ctx) -> Out {
    let mut sub = Out::default();
    children(node, &mut sub, ctx);
    sub
}

fn attr(el: &ElementData, name: &str) -> Option<String> {
    el.attrs
        .borrow()
        .iter()
        .find(|a| a.name.local.as_ref() == name)
        .map(|a| a.value.to_string())
}

fn element(node: &NodeRef, el: &ElementData, out: &mut Out, ctx: Ctx) {
    match el.name.local.as_ref() {
        // The reply fallback quotes the replied-to event; Threema shows replies on its own.
        "mx-reply" | "script" | "style" | "template" | "head" | "title" => {}
        "br" => out.line_break(),
        "strong" | "b" if !ctx.bold => {
            out.inline(render(node, Ctx { bold: true, ..ctx }), "*");
        }
        "em" | "i" if !ctx.italic => {
            out.inline(
                render(
                    node,
                    Ctx {
                        italic: true,
                        ..ctx
                    },
                ),
                "_",
            );
        }
        "del" | "s" | "strike" if !ctx.strike => {
            out.inline(
                render(
                    node,
                    Ctx {
                        strike: true,
                        ..ctx
                    },
                ),
                "~",
            );
        }
        "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => heading(node, out, ctx),
        "p" | "table" => block(node, out, ctx, PARAGRAPH),
        "div" | "li" | "tr" | "dl" | "dt" | "dd" | "details" | "summary" | "section"
        | "article" | "header" | "footer" | "nav" | "aside" | "address" | "figure"
        | "figcaption" | "caption" | "center" | "main" => block(node, out, ctx, LINE),
        "td" | "th" => {
            out.text(" ");
            children(node, out, ctx);
            out.text(" ");
        }
        "hr" => out.block_text("———", PARAGRAPH),
        "pre" => {
            let sub = render(node, Ctx { pre: true, ..ctx });
            out.block_text(sub.buf.trim_end_matches('\n'), PARAGRAPH);
        }
        "blockquote" => blockquote(node, out, ctx),
        "ul" | "ol" => list(node, el, out, ctx),
        "a" => link(node, el, out, ctx),
        "img" => {
            if let Some(alt) = attr(el, "alt") {
                out.text(&alt);
            }
        }
        // `code`, spoiler spans, fonts, unknown tags, and formatting already applied by an
        // outer element: their content only.
        _ => children(node, out, ctx),
    }
}

/// A block element's content, on lines of its own: `level` apart from what is around it.
fn block(node: &NodeRef, out: &mut Out, ctx: Ctx, level: u8) {
    out.block(level);
    children(node, out, ctx);
    out.block(level);
}

/// A heading is a bold line (Threema has no sizes).
fn heading(node: &NodeRef, out: &mut Out, ctx: Ctx) {
    out.block(LINE);
    let marker = if ctx.bold { "" } else { "*" };
    out.inline(render(node, Ctx { bold: true, ..ctx }), marker);
    out.block(LINE);
}

/// The quoted text, each line prefixed with `> ` (an empty one with a bare `>`).
fn blockquote(node: &NodeRef, out: &mut Out, ctx: Ctx) {
    let quoted = render(node, ctx).into_block();
    if quoted.is_empty() {
        return;
    }
    let lines: Vec<String> = quoted
        .split('\n')
        .map(|line| {
            if line.is_empty() {
                ">".to_owned()
            } else {
                format!("> {line}")
            }
        })
        .collect();
    out.block_text(&lines.join("\n"), PARAGRAPH);
}

fn list(node: &NodeRef, el: &ElementData, out: &mut Out, ctx: Ctx) {
    let ordered = el.name.local.as_ref() == "ol";
    let mut number: i64 = attr(el, "start")
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1);
    let level = if ctx.lists > 0 { LINE } else { PARAGRAPH };
    let ctx = Ctx {
        lists: ctx.lists + 1,
        ..ctx
    };
    out.block(level);
    for child in node.children() {
        let Some(item) = child.as_element() else {
            // Whitespace between items; stray text goes in as it is.
            walk(&child, out, ctx);
            continue;
        };
        match item.name.local.as_ref() {
            "li" => {
                if let Some(value) = attr(item, "value").and_then(|v| v.trim().parse().ok()) {
                    number = value;
                }
                let marker = if ordered {
                    format!("{number}. ")
                } else {
                    "• ".to_owned()
                };
                number = number.saturating_add(1);
                let text = render(&child, ctx).into_block();
                out.block_text(&indent(&text, &marker), LINE);
            }
            // A list right inside a list (some clients nest so): indented like an item's.
            "ul" | "ol" => {
                let mut sub = Out::default();
                walk(&child, &mut sub, ctx);
                let width = if ordered { "1. " } else { "• " }.chars().count();
                let text = sub.into_block();
                out.block_text(&indent(&text, &" ".repeat(width)), LINE);
            }
            _ => walk(&child, out, ctx),
        }
    }
    out.block(level);
}

/// `first` before the first line, as many spaces before the others (empty lines stay empty).
fn indent(text: &str, first: &str) -> String {
    let pad = " ".repeat(first.chars().count());
    let mut lines = text.split('\n');
    let mut result = format!("{first}{}", lines.next().unwrap_or_default());
    for line in lines {
        result.push('\n');
        if !line.is_empty() {
            result.push_str(&pad);
            result.push_str(line);
        }
    }
    result.trim_end().to_owned()
}

fn link(node: &NodeRef, el: &ElementData, out: &mut Out, ctx: Ctx) {
    let mut sub = render(node, ctx);
    let href = attr(el, "href").map(|h| h.trim().to_owned());
    let text = sub.buf.trim();
    match href.as_deref() {
        None | Some("") => {}
        Some(href) if is_user_pill(href) => {
            if text.is_empty() {
                sub.buf = pill_target(href).to_owned();
            } else if !text.starts_with('@') {
                sub.buf.insert(0, '@');
            }
        }
        Some(href) if text.is_empty() => sub.buf = href.to_owned(),
        Some(href) if same_target(text, href) => {}
        Some(href) => {
            sub.buf.push_str(" (");
            sub.buf.push_str(href);
            sub.buf.push(')');
        }
    }
    out.inline(sub, "");
}

/// The user ID (or room, event…) part of a `matrix.to` link or `matrix:` URI.
fn pill_target(href: &str) -> &str {
    let target = ["https://matrix.to/#/", "http://matrix.to/#/", "matrix:u/"]
        .iter()
        .find_map(|p| href.strip_prefix(p))
        .unwrap_or(href);
    target.split(['?', '/']).next().unwrap_or(target)
}

fn is_user_pill(href: &str) -> bool {
    href.starts_with("matrix:u/")
        || (href.starts_with("https://matrix.to/#/") || href.starts_with("http://matrix.to/#/"))
            && (pill_target(href).starts_with('@') || pill_target(href).starts_with("%40"))
}

/// Whether a link's text already says where it goes (`x.org` for `https://x.org/`, an address
/// for its `mailto:`), so the URL need not follow it.
fn same_target(text: &str, href: &str) -> bool {
    fn bare(s: &str) -> &str {
        let s = s.trim_end_matches('/');
        ["https://", "http://", "mailto:", "tel:"]
            .iter()
            .find_map(|p| {
                s.get(..p.len())
                    .filter(|head| head.eq_ignore_ascii_case(p))
                    .map(|_| &s[p.len()..])
            })
            .unwrap_or(s)
    }
    text == href || bare(text) == bare(href)
}

#[cfg(test)]
mod tests;
