//! A TCP proxy on 127.0.0.1 in front of a lab server, for cutting connections on purpose:
//! `cut_after(n)` makes the next connection drop once `n` bytes have come from the server
//! (for example in the middle of a FETCH), and `set_down(true)` cuts every connection and
//! refuses new ones until `set_down(false)` (a database server that went away).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct CuttingProxy {
    pub port: u16,
    /// Bytes from the server after which the next connection is cut (0: none armed).
    cut_after: Arc<AtomicU64>,
    connections: Arc<AtomicUsize>,
    cuts: Arc<AtomicUsize>,
    down: tokio::sync::watch::Sender<bool>,
}

impl CuttingProxy {
    pub async fn start(target_port: u16) -> CuttingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut_after = Arc::new(AtomicU64::new(0));
        let connections = Arc::new(AtomicUsize::new(0));
        let cuts = Arc::new(AtomicUsize::new(0));
        let (armed, count, cut_count) = (cut_after.clone(), connections.clone(), cuts.clone());
        let (down, down_now) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if *down_now.borrow() {
                    drop(client);
                    continue;
                }
                count.fetch_add(1, Ordering::SeqCst);
                let limit = armed.swap(0, Ordering::SeqCst);
                let cut_count = cut_count.clone();
                let mut down_later = down_now.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(("127.0.0.1", target_port)).await else { return };
                    tokio::select! {
                        cut = relay(client, server, limit) => if cut {
                            cut_count.fetch_add(1, Ordering::SeqCst);
                        },
                        _ = down_later.wait_for(|down| *down) => {
                            cut_count.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                });
            }
        });
        CuttingProxy { port, cut_after, connections, cuts, down }
    }

    /// Down: every open connection is cut and new ones are closed at once; up: as before.
    pub fn set_down(&self, down: bool) {
        self.down.send_replace(down);
    }

    /// The next connection is cut after `bytes` bytes from the server.
    pub fn cut_next_after(&self, bytes: u64) {
        self.cut_after.store(bytes, Ordering::SeqCst);
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    pub fn cuts(&self) -> usize {
        self.cuts.load(Ordering::SeqCst)
    }
}

/// Copies both ways until either side closes; with a `limit`, drops both sides once that many
/// bytes came from the server. Returns whether it cut the connection.
async fn relay(client: TcpStream, server: TcpStream, limit: u64) -> bool {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upstream = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
        let _ = server_write.shutdown().await;
    });
    let mut forwarded = 0u64;
    let mut buffer = vec![0u8; 16 * 1024];
    let mut cut = false;
    loop {
        let read = match server_read.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        let allowed = if limit > 0 { (limit - forwarded).min(read as u64) as usize } else { read };
        if client_write.write_all(&buffer[..allowed]).await.is_err() {
            break;
        }
        forwarded += allowed as u64;
        if limit > 0 && forwarded >= limit {
            cut = true;
            break;
        }
    }
    upstream.abort();
    // Dropping both halves closes the sockets: the desk sees the connection reset mid-response.
    cut
}
