//! Following `WatchKeys`: inkan sends its key set at once and again after
//! every change, so a `next` key is held long before anything is signed
//! with it. A broken stream is reconnected with backoff; meanwhile the
//! verifier keeps verifying with the keys it has, and says it is stale.

use std::{sync::Arc, time::Duration};

use tonic::transport::Channel;
use tracing::{info, warn};

use super::KeyStore;
use crate::{
    backoff::Backoff,
    proto::v1::{token_service_client::TokenServiceClient, WatchKeysRequest},
};

/// Follows `WatchKeys` for as long as the task runs.
pub(crate) async fn follow(
    mut client: TokenServiceClient<Channel>,
    store: Arc<KeyStore>,
    first_wait: Duration,
) {
    let mut backoff = Backoff::new(first_wait, Duration::from_secs(30));
    loop {
        match client.watch_keys(WatchKeysRequest {}).await {
            Ok(response) => {
                let mut stream = response.into_inner();
                loop {
                    match stream.message().await {
                        Ok(Some(set)) => {
                            backoff.reset();
                            store.offer(&set.jwks_json);
                        }
                        Ok(None) => {
                            info!("inkan ended the WatchKeys stream; reconnecting");
                            break;
                        }
                        Err(status) => {
                            warn!(code = ?status.code(), "the WatchKeys stream broke; verifying with the keys held");
                            break;
                        }
                    }
                }
            }
            Err(status) => {
                warn!(code = ?status.code(), "WatchKeys failed; verifying with the keys held");
            }
        }
        store.set_stale(true);
        tokio::time::sleep(backoff.next_wait()).await;
    }
}
