//! Slow clients cannot exhaust the portal (SECURITY H5): a thousand half-sent request heads from
//! one address leave another address answered, heads that never finish are cut off, and a body
//! that stops arriving is answered 408 instead of being waited for forever.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::helpers::*;

fn address(app: &TestApp) -> SocketAddr {
    let port: u16 = app
        .base
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A connection from `from` (one of loopback's many addresses) that has sent `bytes`.
async fn connect_from(from: Ipv4Addr, to: SocketAddr, bytes: &[u8]) -> Option<TcpStream> {
    let socket = TcpSocket::new_v4().ok()?;
    socket.bind(SocketAddr::from((from, 0))).ok()?;
    let mut stream = socket.connect(to).await.ok()?;
    stream.write_all(bytes).await.ok()?;
    Some(stream)
}

/// Whether the server has closed this connection (end of stream or reset) within `wait`.
async fn closed_within(stream: &mut TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 512];
    loop {
        match tokio::time::timeout(wait, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test]
async fn h5_a_thousand_slow_heads_from_one_address_leave_another_answered_and_are_cut_off() {
    // SECURITY H5
    let app = spawn_app().await;
    let to = address(&app);
    let attacker = Ipv4Addr::new(127, 0, 0, 2);
    let mut slow = vec![];
    for _ in 0..1000 {
        // Half a request head, never finished.
        if let Some(s) = connect_from(attacker, to, b"GET /signin HTTP/1.1\r\nHost: x\r\n").await {
            slow.push(s);
        }
    }
    assert!(slow.len() >= 900, "{} connections made", slow.len());

    // A person at another address is answered at once.
    let person = Agent::from_address(&app.base, Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3))));
    let started = Instant::now();
    let page = tokio::time::timeout(Duration::from_secs(10), person.get("/signin"))
        .await
        .expect("answered while a thousand slow connections are open");
    assert_eq!(page.status, 200);
    eprintln!(
        "H5: another address answered in {} ms beside {} slow connections",
        started.elapsed().as_millis(),
        slow.len()
    );

    // Every slow connection is closed: those over the address's allowance at once, the rest
    // when their head is late (10 s).
    let closed = futures::future::join_all(
        slow.iter_mut()
            .map(|s| closed_within(s, Duration::from_secs(20))),
    )
    .await;
    assert!(
        closed.iter().all(|c| *c),
        "{} still open",
        closed.iter().filter(|c| !**c).count()
    );

    // A head sent one line every few seconds is cut off too, though each line arrives in time.
    let mut trickle = connect_from(attacker, to, b"GET /signin HTTP/1.1\r\n")
        .await
        .expect("connect");
    let started = Instant::now();
    let mut cut = false;
    for i in 0..8 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        if trickle
            .write_all(format!("X-Slow-{i}: 1\r\n").as_bytes())
            .await
            .is_err()
        {
            cut = true;
            break;
        }
    }
    cut = cut || closed_within(&mut trickle, Duration::from_secs(5)).await;
    assert!(
        cut,
        "a trickled head was still open after {:?}",
        started.elapsed()
    );
    // The portal still serves the attacker's address normally once it behaves.
    let again = Agent::from_address(&app.base, Some(IpAddr::V4(attacker)));
    assert_eq!(again.get("/signin").await.status, 200);
}

#[tokio::test]
async fn h5_an_upload_that_stops_sending_is_answered_408_and_keeps_nothing() {
    // SECURITY H5
    let app = spawn_app().await;
    let (_admin, clerk, _) = app
        .clerk_with_department("健康課", "h@city.example.jp")
        .await;
    let channel = app.create_channel(&clerk.agent, "病院連絡", 60).await;
    let link = app
        .invite_guest(
            &clerk.agent,
            &channel,
            "医師 一",
            "one@hospital.example.jp",
            "post_files",
            30,
        )
        .await;
    let guest = app.enrol_guest(&link, "病院の長い合言葉です").await;
    guest.agent.get(&format!("/c/{channel}")).await;
    let cookie = guest.agent.cookie_header();
    // A multipart upload announcing 5 MB that sends 100 bytes and then nothing.
    let head = format!(
        "POST /c/{channel}/files HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n\
         Content-Type: multipart/form-data; boundary=XYZ\r\n\
         Content-Length: 5000000\r\n\r\n"
    );
    let mut body =
        b"--XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.pdf\"\r\n\r\n%PDF"
            .to_vec();
    body.resize(100, b' ');
    let mut stream = TcpStream::connect(address(&app)).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("head");
    stream.write_all(&body).await.expect("body");
    let mut answer = vec![];
    let read = tokio::time::timeout(Duration::from_secs(60), async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    answer.extend_from_slice(&buf[..n]);
                    if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer within a minute");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(app.scalar("select count(*) from attachment").await, 0);
    let files = app.dir.path().join("files");
    let left = std::fs::read_dir(files).map(|r| r.count()).unwrap_or(0);
    assert_eq!(left, 0, "no part of the upload is kept");
}
