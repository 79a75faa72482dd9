//! console: a local web console over the trailhouse lake, served by the
//! `trailhouse` binary itself (`trailhouse serve`).
//!
//! One axum router holds a JSON API ([`api`], documented in `docs/console.md`) and the web
//! UI ([`assets`]: one page, uPlot for charts, compiled into the binary). Every request
//! reads the lake through a fresh [`query::LakeSession`] (the same functions, views and
//! rules as the CLI, at the lake's newest version), so what was ingested a second ago is
//! on the next page. The only thing the API writes is alert triage
//! ([`detections::triage`], the lake's `alert_triage` table).
//!
//! Off loopback, every request needs the token ([`auth`]).
//!
//! ```no_run
//! # async fn f() -> Result<(), console::ConsoleError> {
//! let config = console::Config::new("./lake", Default::default(), vec![]);
//! let server = console::Server::bind("127.0.0.1:8080", config).await?;
//! println!("http://{}/", server.address());
//! server.serve(std::future::pending()).await
//! # }
//! ```

pub mod api;
pub mod assets;
pub mod auth;
pub mod cells;
mod error;
pub mod queries;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use detections::rule::Rule;
use lake::{Lake, LakeOptions};

pub use error::{ApiError, ApiResult, ConsoleError};

/// What the console serves: the lake, the rules (for an alert's triage guidance), the
/// token every request must carry (none on loopback unless given), the folder of named
/// queries its SQL page lists ([`query::saved`]) and the memory its queries share.
#[derive(Clone)]
pub struct Config {
    pub lake: String,
    pub options: LakeOptions,
    pub rules: Vec<Rule>,
    pub token: Option<String>,
    pub saved_queries: Option<std::path::PathBuf>,
    pub memory_limit: query::MemoryLimit,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("lake", &self.lake)
            .field("rules", &self.rules.len())
            .field("token", &self.token.as_ref().map(|_| "<hidden>"))
            .field("saved_queries", &self.saved_queries)
            .field("memory_limit", &self.memory_limit)
            .finish_non_exhaustive()
    }
}

impl Config {
    pub fn new(lake: &str, options: LakeOptions, rules: Vec<Rule>) -> Config {
        Config {
            lake: lake.to_string(),
            options,
            rules,
            token: None,
            saved_queries: None,
            memory_limit: query::MemoryLimit::machine_default(),
        }
    }

    /// The folder of named queries the SQL page lists.
    pub fn with_saved_queries(mut self, dir: Option<std::path::PathBuf>) -> Config {
        self.saved_queries = dir;
        self
    }

    /// The memory every running query shares (spilling beyond it).
    pub fn with_memory_limit(mut self, limit: query::MemoryLimit) -> Config {
        self.memory_limit = limit;
        self
    }

    pub fn with_token(mut self, token: Option<String>) -> Config {
        self.token = token.filter(|t| !t.is_empty());
        self
    }
}

/// The state every handler shares.
#[derive(Debug)]
pub struct Console {
    pub config: Config,
    pub lake: Lake,
    pub queries: queries::Queries,
    /// One memory pool for every request's session ([`Config::memory_limit`]).
    runtime: Arc<datafusion::execution::runtime_env::RuntimeEnv>,
    /// The address the server listens on (for the Host check on loopback).
    pub address: SocketAddr,
}

impl Console {
    /// A fresh query session over the lake at its newest version.
    pub async fn session(&self) -> ApiResult<query::LakeSession> {
        let ctx = query::new_context_in(self.runtime.clone())?;
        Ok(query::LakeSession::open_in(ctx, &self.config.lake, &self.config.options).await?)
    }
}

/// A bound console: listening, not yet serving.
pub struct Server {
    listener: tokio::net::TcpListener,
    console: Arc<Console>,
}

impl Server {
    /// Opens the lake and binds `address` (port 0: a free one). Off loopback, a token is
    /// required.
    pub async fn bind(address: &str, config: Config) -> Result<Server, ConsoleError> {
        let bind_err = |cause| ConsoleError::Bind { address: address.to_string(), cause };
        let listener = tokio::net::TcpListener::bind(address).await.map_err(bind_err)?;
        let local = listener.local_addr().map_err(bind_err)?;
        if !local.ip().is_loopback() && config.token.is_none() {
            return Err(ConsoleError::NeedsToken { address: address.to_string() });
        }
        if let Some(token) = &config.token {
            auth::check_token(token).map_err(ConsoleError::BadToken)?;
        }
        let lake = Lake::open_existing(&config.lake, &config.options).await?;
        let runtime = config.memory_limit.runtime()?;
        let console = Arc::new(Console { config, lake, queries: queries::Queries::default(), runtime, address: local });
        Ok(Server { listener, console })
    }

    pub fn address(&self) -> SocketAddr {
        self.console.address
    }

    /// The router, for callers that serve it themselves.
    pub fn router(&self) -> Router {
        router(self.console.clone())
    }

    /// Serves until `shutdown` completes; running queries are cancelled then.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), ConsoleError> {
        let app = router(self.console.clone());
        let console = self.console.clone();
        let sweeper = tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
            loop {
                every.tick().await;
                console.queries.sweep();
            }
        });
        let result = axum::serve(self.listener, app).with_graceful_shutdown(shutdown).await;
        sweeper.abort();
        self.console.queries.cancel_all();
        result.map_err(ConsoleError::Serve)
    }
}

/// The API under `/api/`, the UI everywhere else, behind the token check.
pub fn router(console: Arc<Console>) -> Router {
    Router::new()
        .nest("/api", api::routes())
        .route("/assets/{*file}", axum::routing::get(assets::asset))
        .fallback(assets::page)
        .layer(axum::middleware::from_fn_with_state(console.clone(), auth::check))
        .layer(axum::middleware::from_fn(request_span))
        .with_state(console)
}

/// Each request's log lines (its query's, its errors') carry a `request` span: a number
/// counting the server's requests, the method and the path (never the query string, which
/// may hold SQL, nor headers, which may hold the token).
async fn request_span(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use std::sync::atomic::{AtomicU64, Ordering};
    use tracing::Instrument;
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    let span = tracing::info_span!("request", id, method = %req.method(), path = %req.uri().path());
    next.run(req).instrument(span).await
}
