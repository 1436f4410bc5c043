//! PostgreSQL helpers of the benchmarks that write into a schema of their
//! own.

/// Drops `schema` (and everything in it) on the server at `url`.
pub async fn drop_schema(url: &str, schema: &str) {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("the bench's PostgreSQL answers");
    tokio::spawn(conn);
    client
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .expect("the bench's schema is dropped");
}
