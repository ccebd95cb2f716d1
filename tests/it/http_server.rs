//! A real HTTP/1.1 server on 127.0.0.1 for weather tests and benchmarks: it answers like Open-Meteo, from real
//! recorded values, and injects faults on demand. Raw TCP so it can also misbehave (hang, truncate) the way real
//! servers and proxies do.
#![allow(dead_code)] // shared by the tests and the P4 benchmark, which use different parts

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the server does with one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// 200 with this JSON body.
    Json(String),
    /// Any status, extra headers, body.
    Status(u16, Vec<(String, String)>, String),
    /// Accept, then say nothing for this long.
    Hang(Duration),
    /// Declare `Content-Length` of the full body, send only its first half, close.
    Truncated(String),
    /// Wait, then reply.
    Delayed(Duration, Box<Reply>),
}

/// Decides the reply from the request target (path and query) and how many times that target was asked before.
pub type Handler = Arc<dyn Fn(&str, usize) -> Reply + Send + Sync>;

pub struct Server {
    pub base: String,
    hits: Arc<AtomicUsize>,
    per_target: Arc<Mutex<HashMap<String, usize>>>,
    _runtime: std::thread::JoinHandle<()>,
}

impl Server {
    pub fn start(handler: Handler) -> Server {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let base = format!("http://{}", std_listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let per_target: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let (h, p) = (hits.clone(), per_target.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = TcpListener::from_std(std_listener).unwrap();
                loop {
                    let Ok((mut sock, _)) = listener.accept().await else { continue };
                    let (handler, h, p) = (handler.clone(), h.clone(), p.clone());
                    tokio::spawn(async move {
                        let mut buf = Vec::new();
                        let mut chunk = [0u8; 4096];
                        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                            match sock.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        }
                        let head = String::from_utf8_lossy(&buf);
                        let target = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                        h.fetch_add(1, Ordering::SeqCst);
                        let n = {
                            let mut map = p.lock().unwrap();
                            let e = map.entry(target.clone()).or_insert(0);
                            *e += 1;
                            *e - 1
                        };
                        let reply = handler(&target, n);
                        respond(&mut sock, reply).await;
                    });
                }
            });
        });
        Server { base, hits, per_target, _runtime: thread }
    }

    /// Requests received so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn respond(sock: &mut tokio::net::TcpStream, reply: Reply) {
    let mut reply = reply;
    loop {
        match reply {
            Reply::Delayed(d, inner) => {
                tokio::time::sleep(d).await;
                reply = *inner;
            }
            Reply::Hang(d) => {
                tokio::time::sleep(d).await;
                return;
            }
            Reply::Json(body) => return write(sock, 200, &[], &body, body.len()).await,
            Reply::Status(code, headers, body) => return write(sock, code, &headers, &body, body.len()).await,
            Reply::Truncated(body) => {
                let half = &body[..body.len() / 2];
                return write(sock, 200, &[], half, body.len()).await;
            }
        }
    }
}

async fn write(sock: &mut tokio::net::TcpStream, code: u16, headers: &[(String, String)], body: &str, declared: usize) {
    let reason = match code {
        200 => "OK",
        400 => "Bad Request",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let mut head = format!("HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\nContent-Length: {declared}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = sock.write_all(head.as_bytes()).await;
    let _ = sock.write_all(body.as_bytes()).await;
    let _ = sock.shutdown().await;
}

/// The query parameter `name` of a request target.
pub fn query<'a>(target: &'a str, name: &str) -> Option<&'a str> {
    target.split_once('?')?.1.split('&').find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

/// An Open-Meteo archive answer for the target's `start_date..=end_date`, holding the real values of a recorded
/// answer (`sites/swiss-alps/weather/recorded/<point>.json`, Open-Meteo, CC BY 4.0).
pub fn open_meteo_answer(recorded: &serde_json::Value, target: &str) -> serde_json::Value {
    let (from, to) = (query(target, "start_date").unwrap_or(""), query(target, "end_date").unwrap_or(""));
    let mut answer = recorded.clone();
    let times: Vec<String> =
        recorded["daily"]["time"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_owned()).collect();
    let keep: Vec<usize> = (0..times.len()).filter(|&i| times[i].as_str() >= from && times[i].as_str() <= to).collect();
    let daily = answer["daily"].as_object_mut().unwrap();
    for (_, values) in daily.iter_mut() {
        let arr = values.as_array().unwrap().clone();
        *values = serde_json::Value::Array(keep.iter().map(|&i| arr[i].clone()).collect());
    }
    answer
}
