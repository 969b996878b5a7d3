//! An egress proxy for tests that need one (not every test binary does).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chiaro_mesh::credentials::SharedTls;
use chiaro_mesh::egress::Egress;
use chiaro_mesh::events::Events;
use chiaro_mesh::workers::Workers;
use chiaro_pod::EgressRule;
use tokio::net::TcpListener;

/// An egress proxy with the credentials in `dir`, to `remote` requiring `san`; its listener.
pub(crate) async fn egress_to(
    dir: &Path,
    remote: SocketAddr,
    san: &str,
) -> (SocketAddr, Arc<SharedTls>) {
    let tls = Arc::new(SharedTls::load(dir).unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let local = listener.local_addr().unwrap();
    let egress = Arc::new(Egress::new(
        EgressRule {
            name: "api".to_owned(),
            local,
            remote: remote.to_string(),
            san: san.to_owned(),
        },
        Arc::clone(&tls),
        Duration::from_secs(60),
        Events::quiet(),
        Workers::current(),
    ));
    tokio::spawn(egress.serve(listener));
    (local, tls)
}
