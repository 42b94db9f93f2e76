//! PostgreSQL over TLS against the real local server (`SIGNALPOST_TEST_DATABASE_URL`): `require`
//! encrypts every connection of the store (checked in `pg_stat_ssl` by the server itself),
//! `verify-ca` accepts the server's certificate when it is the trusted root, `verify-full` refuses a
//! certificate that does not name the host and one that no trusted root signed. When the server has
//! TLS off, `require` must fail rather than fall back to plain.
#![allow(clippy::unwrap_used)]

mod common;

use common::backend::PgSchema;
use signalpost_gateway::store::Store;
use signalpost_gateway::store::postgres::PostgresStore;

/// A plain admin connection to the schema's server.
async fn admin(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// How many of the server's sessions named `app` are encrypted, and how many there are.
async fn sessions(admin: &tokio_postgres::Client, app: &str) -> (i64, i64) {
    let row = admin
        .query_one(
            "SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_activity a \
             JOIN pg_stat_ssl s USING (pid) WHERE a.application_name = $1",
            &[&app],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

fn app_name() -> String {
    format!("sp_tls_{:08x}", rand::random::<u32>())
}

#[tokio::test]
async fn require_encrypts_every_connection_or_fails_when_the_server_has_no_tls() {
    let Some(schema) = PgSchema::create().await else {
        return;
    };
    let admin = admin(&schema.url).await;
    let tls_on: String = admin.query_one("SHOW ssl", &[]).await.unwrap().get(0);
    let app = app_name();
    let url = format!("{}&sslmode=require&application_name={app}", schema.url);
    let connected = PostgresStore::connect(&url).await;
    if tls_on != "on" {
        let err = connected.unwrap_err().to_string();
        assert!(err.to_lowercase().contains("tls"), "{err}");
        return;
    }
    let store = connected.unwrap();
    // The store works over it: migrations ran and a read answers.
    store.queue_depth().await.unwrap();
    let (encrypted, total) = sessions(&admin, &app).await;
    assert!(total >= 1, "the store has connections open: {total}");
    assert_eq!(
        encrypted, total,
        "every connection of the store is encrypted"
    );
    store.close().await;

    // Without sslmode the same server is reached in plain text (the documented default).
    let app = app_name();
    let plain = PostgresStore::connect(&format!("{}&application_name={app}", schema.url))
        .await
        .unwrap();
    plain.queue_depth().await.unwrap();
    let (encrypted, total) = sessions(&admin, &app).await;
    assert!(total >= 1);
    assert_eq!(encrypted, 0);
    plain.close().await;
}

#[tokio::test]
async fn verify_modes_check_the_certificate_chain_and_the_host_name() {
    let Some(schema) = PgSchema::create().await else {
        return;
    };
    let admin = admin(&schema.url).await;
    let tls_on: String = admin.query_one("SHOW ssl", &[]).await.unwrap().get(0);
    if tls_on != "on" {
        eprintln!("notice: the server has ssl off; the certificate checks need it on");
        return;
    }
    let cert: String = admin
        .query_one("SHOW ssl_cert_file", &[])
        .await
        .unwrap()
        .get(0);
    let cert_path = if cert.starts_with('/') {
        std::path::PathBuf::from(&cert)
    } else {
        let dir: String = admin
            .query_one("SHOW data_directory", &[])
            .await
            .unwrap()
            .get(0);
        std::path::Path::new(&dir).join(&cert)
    };

    // No trusted root signed the server's (self-signed) certificate: refused, whatever the name.
    let err = PostgresStore::connect(&format!("{}&sslmode=verify-full", schema.url))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("UnknownIssuer"), "{err}");

    if std::fs::read(&cert_path).is_err() {
        eprintln!(
            "notice: cannot read the server's certificate {}; the trusted-root checks need it",
            cert_path.display()
        );
        return;
    }
    let root = cert_path.display().to_string();
    // The certificate is trusted, but it names a host, not the address 127.0.0.1 the URL uses.
    if schema.url.contains("@127.0.0.1") {
        let err = PostgresStore::connect(&format!(
            "{}&sslmode=verify-full&sslrootcert={root}",
            schema.url
        ))
        .await
        .unwrap_err()
        .to_string();
        assert!(err.contains("not valid for name"), "{err}");
        // Under the name `localhost` the chain is trusted: it passes when the certificate names
        // it (Debian's default certificate does), and otherwise fails on the name alone.
        let by_name = schema.url.replace("@127.0.0.1", "@localhost");
        match PostgresStore::connect(&format!("{by_name}&sslmode=verify-full&sslrootcert={root}"))
            .await
        {
            Ok(store) => {
                store.queue_depth().await.unwrap();
                store.close().await;
            }
            Err(e) => assert!(e.to_string().contains("not valid for name"), "{e}"),
        }
    }
    // verify-ca checks the chain only: the trusted self-signed certificate passes.
    let app = app_name();
    let store = PostgresStore::connect(&format!(
        "{}&sslmode=verify-ca&sslrootcert={root}&application_name={app}",
        schema.url
    ))
    .await
    .unwrap();
    store.queue_depth().await.unwrap();
    let (encrypted, total) = sessions(&admin, &app).await;
    assert!(total >= 1);
    assert_eq!(encrypted, total);
    store.close().await;
}
