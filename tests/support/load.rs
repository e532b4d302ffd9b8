//! A bounded load generator for the upgrade tests and benchmark: `workers` loops on
//! one tenant's `GET <url>`, each sample kept with the `version` its answer named.
//! Every answer that is not a 200 with a version counts as an error.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;

/// One answered request.
#[derive(Debug, Clone)]
pub struct Sample {
    pub sent: Instant,
    pub latency: Duration,
    /// The answer's `version`; none for an error.
    pub version: Option<String>,
}

pub struct Load {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    pub fn start(url: &str, tenant: &str, token: &str, workers: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let client = reqwest::Client::new();
        let workers = (0..workers)
            .map(|_| {
                let (stop, samples, client) = (stop.clone(), samples.clone(), client.clone());
                let (url, tenant, token) = (url.to_owned(), tenant.to_owned(), token.to_owned());
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let sent = Instant::now();
                        let answer = client
                            .get(&url)
                            .header("x-tenant-id", &tenant)
                            .bearer_auth(&token)
                            .send()
                            .await;
                        let version = match answer {
                            Ok(resp) if resp.status() == 200 => resp
                                .json::<Value>()
                                .await
                                .ok()
                                .and_then(|b| b["version"].as_str().map(str::to_owned)),
                            _ => None,
                        };
                        let sample = Sample {
                            sent,
                            latency: sent.elapsed(),
                            version,
                        };
                        samples
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push(sample);
                    }
                })
            })
            .collect();
        Self {
            stop,
            samples,
            workers,
        }
    }

    /// Waits (at most 10 s) until an answer sent from now on names `version`.
    pub async fn until_serving(&self, version: &str) {
        let since = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let served = self
                .samples
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .rev()
                .take_while(|s| s.sent >= since)
                .any(|s| s.version.as_deref() == Some(version));
            if served {
                return;
            }
            assert!(
                since.elapsed() < Duration::from_secs(10),
                "{version} never served"
            );
        }
    }

    /// Stops the workers and hands back every sample, in the order they finished.
    pub async fn finish(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        for worker in self.workers {
            worker.await.expect("a load worker");
        }
        std::mem::take(&mut *self.samples.lock().unwrap_or_else(PoisonError::into_inner))
    }
}
