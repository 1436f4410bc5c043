//! PostgreSQL helper of the benchmarks that write into a schema of their
//! own.

/// Runs `sql` (one or more statements) on the server at `url`.
pub async fn execute(url: &str, sql: &str) {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("the bench's PostgreSQL answers");
    tokio::spawn(conn);
    client
        .batch_execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}
