//! Throughput of the pages people use most, measured on the real server. Not run by default:
//! `cargo test --release --test api -- --ignored bench --nocapture` prints the numbers.
//! No assertion on time: this reports, it does not judge.

use std::time::{Duration, Instant};

use crate::helpers::*;

async fn measure(label: &str, agent: &Agent, path: &str, requests: usize, concurrency: usize) {
    let started = Instant::now();
    let mut latencies: Vec<Duration> = Vec::with_capacity(requests);
    let per_task = requests / concurrency;
    let mut tasks = vec![];
    for _ in 0..concurrency {
        let client = agent.client.clone();
        let url = agent.url(path);
        tasks.push(tokio::spawn(async move {
            let mut own = Vec::with_capacity(per_task);
            for _ in 0..per_task {
                let t = Instant::now();
                let res = client.get(&url).send().await.expect("request");
                assert_eq!(res.status(), 200);
                let _ = res.bytes().await;
                own.push(t.elapsed());
            }
            own
        }));
    }
    for t in tasks {
        latencies.extend(t.await.expect("task"));
    }
    let total = started.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "{label}: {} requests, {concurrency} at a time: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
        latencies.len(),
        latencies.len() as f64 / total.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0,
    );
}

#[tokio::test]
#[ignore = "benchmark: run with --ignored --nocapture, preferably in release"]
async fn bench_signed_in_pages() {
    let app = spawn_app().await;
    let (_admin, clerk, _) = app
        .clerk_with_department("健康課", "bench@city.example.jp")
        .await;
    let channel = app.create_channel(&clerk.agent, "計測", 60).await;
    let link = app
        .invite_guest(
            &clerk.agent,
            &channel,
            "計測 者",
            "bench-guest@example.jp",
            "post",
            30,
        )
        .await;
    let guest = app.enrol_guest(&link, "計測のための合言葉").await;
    for i in 0..50 {
        guest.agent.get(&format!("/c/{channel}")).await;
        guest
            .agent
            .post(
                &format!("/c/{channel}/messages"),
                &[("body", &format!("計測用の書き込み {i}"))],
            )
            .await;
    }
    let anonymous = app.agent();
    measure(
        "sign-in page (anonymous session)",
        &anonymous,
        "/signin",
        2000,
        16,
    )
    .await;
    measure(
        "guest channel page, 50 messages",
        &guest.agent,
        &format!("/c/{channel}"),
        2000,
        16,
    )
    .await;
    measure(
        "clerk channel page, guests and messages",
        &clerk.agent,
        &format!("/staff/channels/{channel}"),
        1000,
        16,
    )
    .await;
}
