//! TLS to PostgreSQL with rustls. `sslmode=require` in `sink.postgres.url`
//! turns it on; the server's certificate must chain to
//! `sink.postgres.ssl_root_cert` (or, when that is empty, to a system root)
//! and name the host of the URL (libpq's
//! `verify-full`: encryption without verification would let anyone on the
//! path read learners' rows). Without `sslmode=require` the connection is
//! plain, for a database on the same host or inside a private network.

use std::sync::Arc;

use rustls::ClientConfig;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::STORE;
use crate::store::StoreError;

/// A connector trusting the certificates in the PEM file `root_cert`, or
/// the system's roots when it is empty — as libpq's `sslrootcert` does: a
/// deployment with its own CA trusts that CA and nothing else.
pub fn connector(root_cert: &str) -> Result<MakeRustlsConnect, StoreError> {
    let bad = |reason: String| StoreError::Connect {
        store: STORE,
        reason,
    };
    let mut roots = rustls::RootCertStore::empty();
    if root_cert.is_empty() {
        // Unreadable system certificates are skipped, as every TLS client does.
        let system = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(system.certs);
    } else {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(root_cert)
            .and_then(|certs| certs.collect())
            .map_err(|e| {
                bad(format!(
                    "sink.postgres.ssl_root_cert {root_cert}: {e} (give a PEM file of CA certificates)"
                ))
            })?;
        if certs.is_empty() {
            return Err(bad(format!(
                "sink.postgres.ssl_root_cert {root_cert} holds no PEM certificate"
            )));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| bad(format!("sink.postgres.ssl_root_cert {root_cert}: {e}")))?;
        }
    }
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| bad(format!("TLS setup: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}
