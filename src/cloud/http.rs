//! The one HTTP client every provider shares: rustls with the ring provider,
//! connect and whole-request timeouts, no redirects. Build it once at start
//! and pass clones (they share one connection pool) to [`super::connect`].

use std::time::Duration;

use super::{ApiErrorDetail, CloudError};

/// Timeouts of the shared client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpOptions {
    /// Time to establish a TCP + TLS connection.
    pub connect_timeout: Duration,
    /// Time for a whole request, from sending to the last byte of the answer.
    pub request_timeout: Duration,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Build the shared client.
pub fn build_http_client(options: &HttpOptions) -> Result<reqwest::Client, CloudError> {
    // Err only means a provider is already installed, which is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .tls_backend_rustls()
        .connect_timeout(options.connect_timeout)
        .timeout(options.request_timeout)
        // Cloud APIs answer in place; following a redirect would re-send a
        // signed request somewhere we did not choose.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("secgroup-controller/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| {
            CloudError::InvalidRequest(ApiErrorDetail {
                code: "HttpClient".into(),
                message: format!("could not build the HTTP client: {e}"),
                ..Default::default()
            })
        })
}
