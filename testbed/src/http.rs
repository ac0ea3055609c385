//! A small threaded HTTP server (tiny_http) for the test server: a few worker threads take
//! requests until stopped; stopping unblocks and joins them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

pub struct HttpServer {
    server: Arc<tiny_http::Server>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    port: u16,
}

impl HttpServer {
    /// Listens on `addr` (`127.0.0.1:0` picks a free port) and serves each request with
    /// `handle` on one of `threads` threads.
    pub fn start(
        what: &str,
        addr: &str,
        threads: usize,
        handle: impl Fn(tiny_http::Request) + Send + Sync + 'static,
    ) -> anyhow::Result<HttpServer> {
        let server = tiny_http::Server::http(addr)
            .map_err(|e| anyhow::anyhow!("{what}: cannot listen on {addr}: {e}"))?;
        let port = server
            .server_addr()
            .to_ip()
            .map(|a| a.port())
            .ok_or_else(|| anyhow::anyhow!("{what}: not an IP listener"))?;
        let server = Arc::new(server);
        let stop = Arc::new(AtomicBool::new(false));
        let handle = Arc::new(handle);
        let threads = (0..threads.max(1))
            .map(|_| {
                let (server, stop, handle) = (server.clone(), stop.clone(), handle.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        match server.recv() {
                            Ok(req) => handle(req),
                            Err(_) => break,
                        }
                    }
                })
            })
            .collect();
        Ok(HttpServer {
            server,
            stop,
            threads,
            port,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for _ in 0..self.threads.len() {
            self.server.unblock();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Sends `body` with `status` and a Content-Type.
pub fn respond(req: tiny_http::Request, status: u16, content_type: &str, body: Vec<u8>) {
    let header = tiny_http::Header::from_bytes(&b"Content-Type"[..], content_type.as_bytes())
        .expect("a valid header");
    let _ = req.respond(
        tiny_http::Response::from_data(body)
            .with_status_code(status)
            .with_header(header),
    );
}
