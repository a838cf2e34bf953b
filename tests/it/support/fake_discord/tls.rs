//! TLS for the REST server: a self-signed certificate for discord.com that
//! only the fake's own client trusts (pinned).

#[allow(unused_imports)]
use super::*;

pub(super) fn fake_cert() -> CertificateDer<'static> {
    let pem = std::fs::read(data_dir().join("fake-discord.crt")).expect("read tests/data/fake-discord.crt");
    CertificateDer::from_pem_slice(&pem).expect("parse fake-discord.crt")
}

pub(super) fn tls_config() -> Arc<rustls::ServerConfig> {
    let key_pem = std::fs::read(data_dir().join("fake-discord.key")).expect("read tests/data/fake-discord.key");
    let certs = vec![fake_cert()];
    let key = PrivateKeyDer::from_pem_slice(&key_pem).expect("parse fake-discord.key");
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("fake Discord certificate and key");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// The client side: a rustls config that accepts exactly the fake's
/// certificate. A root certificate is not enough: the certificate is
/// self-signed with CA:TRUE, which webpki refuses as a server certificate
/// (CaUsedAsEndEntity), so the client pins it instead.
pub(super) fn pinned_client_tls() -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let pinned = PinnedCert {
        cert: fake_cert(),
        provider: provider.clone(),
    };
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(pinned))
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    tls
}

/// The client side: only the fake's own certificate is accepted.
#[derive(Debug)]
pub(super) struct PinnedCert {
    cert: CertificateDer<'static>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for PinnedCert {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.cert.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// Accepts TCP and does TLS handshakes in the background (a stalled or failed
/// handshake never blocks the next connection), handing finished streams to axum.
pub(super) struct TlsListener {
    rx: mpsc::Receiver<(tokio_rustls::server::TlsStream<TcpStream>, SocketAddr)>,
    addr: SocketAddr,
}

impl TlsListener {
    pub(super) fn start(tcp: TcpListener, config: Arc<rustls::ServerConfig>, shared: Arc<Shared>) -> TlsListener {
        let addr = tcp.local_addr().expect("REST addr");
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(x) => x,
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                let shared = shared.clone();
                tokio::spawn(async move {
                    let failure = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                            return;
                        }
                        Ok(Err(e)) => format!("TLS handshake from {peer} failed: {e}"),
                        Err(_) => format!("TLS handshake from {peer} timed out"),
                    };
                    eprintln!("fake Discord REST: {failure}");
                    shared.lock().tls_failures.push(failure);
                });
            }
        });
        TlsListener { rx, addr }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(conn) => conn,
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.addr)
    }
}
