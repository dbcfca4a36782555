//! A TCP proxy that can cut its client off: a network partition between
//! one controller replica and the API server, while everything else it
//! talks to stays reachable.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A running proxy to one address. Dropping it stops it.
pub struct Proxy {
    addr: SocketAddr,
    cut: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.close_all();
    }
}

impl Proxy {
    /// Forward every connection made to the proxy to `target`.
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let cut = Arc::new(AtomicBool::new(false));
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = {
            let cut = cut.clone();
            let connections = connections.clone();
            tokio::spawn(async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    if cut.load(Ordering::SeqCst) {
                        // Partitioned: the connection is dropped at once.
                        continue;
                    }
                    let task = tokio::spawn(async move {
                        if let Ok(mut outbound) = TcpStream::connect(target).await {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                    connections.lock().expect("not poisoned").push(task);
                }
            })
        };
        Proxy {
            addr,
            cut,
            connections,
            accept,
        }
    }

    /// `http://` address of the proxy.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Cut the client off: open connections are closed, new ones dropped.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.close_all();
    }

    fn close_all(&self) {
        for task in self.connections.lock().expect("not poisoned").drain(..) {
            task.abort();
        }
    }
}
