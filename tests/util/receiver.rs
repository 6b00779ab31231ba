//! A local HTTP receiver standing in for WeCom robots, Slack and webhooks: it records every
//! POST (path and JSON body) and answers as told (`ok`, `fail` with a 500, or `hang`).

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Ok,
    Fail,
    Hang,
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    got: Arc<Mutex<Vec<(String, serde_json::Value)>>>,
    answer: Arc<Mutex<Answer>>,
}

impl Receiver {
    pub async fn start(answer: Answer) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let got = Arc::new(Mutex::new(Vec::new()));
        let answer = Arc::new(Mutex::new(answer));
        let (g, a) = (got.clone(), answer.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (g, a) = (g.clone(), a.clone());
                tokio::spawn(async move {
                    let service =
                        hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                            let (g, a) = (g.clone(), a.clone());
                            async move {
                                let path = req.uri().path().to_string();
                                let body = req
                                    .into_body()
                                    .collect()
                                    .await
                                    .map(|b| b.to_bytes())
                                    .unwrap_or_default();
                                let json = serde_json::from_slice(&body)
                                    .unwrap_or(serde_json::Value::Null);
                                let answer = *a.lock().unwrap();
                                match answer {
                                    Answer::Ok => {
                                        g.lock().unwrap().push((path, json));
                                        Ok::<_, Infallible>(Response::new(Full::new(
                                            Bytes::from_static(
                                                b"{\"errcode\":0,\"errmsg\":\"ok\"}",
                                            ),
                                        )))
                                    }
                                    Answer::Fail => {
                                        let mut r =
                                            Response::new(Full::new(Bytes::from_static(b"no")));
                                        *r.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
                                        Ok(r)
                                    }
                                    Answer::Hang => {
                                        tokio::time::sleep(std::time::Duration::from_secs(3600))
                                            .await;
                                        Ok(Response::new(Full::new(Bytes::new())))
                                    }
                                }
                            }
                        });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Receiver { url, got, answer }
    }

    pub fn answer(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }

    /// Every POST answered `ok` so far: (path, body).
    pub fn got(&self) -> Vec<(String, serde_json::Value)> {
        self.got.lock().unwrap().clone()
    }

    /// The bodies posted to `path`.
    pub fn at(&self, path: &str) -> Vec<serde_json::Value> {
        self.got()
            .into_iter()
            .filter(|(p, _)| p == path)
            .map(|(_, b)| b)
            .collect()
    }

    /// Waits until `n` POSTs were answered `ok`.
    pub async fn wait_for(&self, n: usize) -> Vec<(String, serde_json::Value)> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let got = self.got();
            if got.len() >= n {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {} of {n} notifications: {got:?}",
                got.len()
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}
