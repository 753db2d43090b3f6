//! An on-prem SYSPRO behind HTTPS with a certificate from the site's own CA: `check` fails with the
//! CA hint until MLC_SYSPRO__CA_CERT_PATH names that CA, then passes. The CA and the certificate
//! are made here; a small TLS front end forwards to the simulator.

use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::helpers::*;

struct Site {
    ca_pem: String,
    acceptor: TlsAcceptor,
}

/// A site CA and a server certificate for 127.0.0.1 and localhost signed by it.
fn site() -> Site {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "Distributor site CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);

    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "erp.distributor.local");
    let cert = params.signed_by(&key, &issuer).unwrap();

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    Site {
        ca_pem: ca_cert.pem(),
        acceptor: TlsAcceptor::from(Arc::new(config)),
    }
}

/// The PEM of a CA that issued nothing here.
fn site_ca_only() -> String {
    let key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "Some other CA");
    ca.self_signed(&key).unwrap().pem()
}

/// Serves TLS on a free port and forwards each connection to `backend`. Returns the port.
async fn tls_front(acceptor: TlsAcceptor, backend: std::net::SocketAddr) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // a client that refuses the certificate ends the handshake: nothing to forward
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut upstream) = TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
            });
        }
    });
    port
}

#[tokio::test]
async fn a_self_signed_site_needs_its_ca_and_passes_with_it() {
    let (sim, server) = simulator().await;
    let site = site();
    let port = tls_front(site.acceptor.clone(), server.addr).await;
    let url = server.odata_url().replace(
        &format!("http://{}", server.addr),
        &format!("https://127.0.0.1:{port}"),
    );
    let timeout = Duration::from_secs(90);

    let without = run(&["check"], &odata_env(&url, &sim, None), timeout).await;
    assert_ne!(without.code, 0, "{}", without.explain());
    let line = verdict(&without.stdout, "SYSPRO $metadata").expect("a $metadata verdict");
    assert!(line.starts_with('✘'), "{line}");
    let fix = fix_of(&without.stdout, "SYSPRO $metadata").expect("a fix");
    assert!(fix.contains("MLC_SYSPRO__CA_CERT_PATH"), "{fix}");

    // a CA file, but not the CA that issued SYSPRO's certificate
    let dir = tempfile::tempdir().unwrap();
    let other_ca = dir.path().join("other-ca.pem");
    std::fs::write(&other_ca, site_ca_only()).unwrap();
    let mut env = odata_env(&url, &sim, None);
    env.push((
        "MLC_SYSPRO__CA_CERT_PATH".into(),
        other_ca.to_str().unwrap().to_string(),
    ));
    let wrong_ca = run(&["check"], &env, timeout).await;
    assert_ne!(wrong_ca.code, 0, "{}", wrong_ca.explain());
    let fix = fix_of(&wrong_ca.stdout, "SYSPRO $metadata").expect("a fix");
    assert!(
        fix.contains("does not verify against MLC_SYSPRO__CA_CERT_PATH"),
        "{fix}"
    );

    let ca_path = dir.path().join("site-ca.pem");
    std::fs::write(&ca_path, &site.ca_pem).unwrap();
    let mut env = odata_env(&url, &sim, None);
    env.push((
        "MLC_SYSPRO__CA_CERT_PATH".into(),
        ca_path.to_str().unwrap().to_string(),
    ));
    let with = run(&["check"], &env, timeout).await;
    assert_eq!(with.code, 0, "{}", with.explain());
    assert!(
        verdict(&with.stdout, "SYSPRO ApInvoice").is_some_and(|l| l.starts_with('✔')),
        "{}",
        with.explain()
    );
    assert!(with.stdout.contains("site-ca.pem"), "{}", with.explain());
}

#[tokio::test]
async fn a_ca_file_that_is_not_pem_is_a_configuration_verdict() {
    let (sim, server) = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let ca_path = dir.path().join("not-a-ca.pem");
    std::fs::write(&ca_path, "hello").unwrap();
    let mut env = odata_env(&server.odata_url(), &sim, None);
    env.push((
        "MLC_SYSPRO__CA_CERT_PATH".into(),
        ca_path.to_str().unwrap().to_string(),
    ));
    let run = run(&["check"], &env, Duration::from_secs(60)).await;
    assert_ne!(run.code, 0, "{}", run.explain());
    let line = verdict(&run.stdout, "SYSPRO configuration").expect("a configuration verdict");
    assert!(
        line.starts_with('✘') && line.contains("ca_cert_path"),
        "{line}"
    );
}
