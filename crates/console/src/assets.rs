//! The web UI, compiled into the binary: one page (`index.html`, served for every path
//! that is not an API call or an asset, so each page of the UI is a URL to share), its
//! script and style, and uPlot 1.6.32 (MIT, `assets/vendor/uPlot.LICENSE`) for the charts.
//! Nothing is fetched from elsewhere at run time.

use axum::extract::Path;
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::ApiError;

/// `(path under /assets/, content type, bytes)`.
const ASSETS: &[(&str, &str, &[u8])] = &[
    ("app.js", "text/javascript; charset=utf-8", include_bytes!("../assets/app.js")),
    ("app.css", "text/css; charset=utf-8", include_bytes!("../assets/app.css")),
    (
        "vendor/uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/vendor/uPlot.iife.min.js"),
    ),
    ("vendor/uPlot.min.css", "text/css; charset=utf-8", include_bytes!("../assets/vendor/uPlot.min.css")),
    ("vendor/uPlot.LICENSE", "text/plain; charset=utf-8", include_bytes!("../assets/vendor/uPlot.LICENSE")),
];

const INDEX: &str = include_str!("../assets/index.html");

pub async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(p, _, _)| *p == file) {
        Some((_, content_type, bytes)) => {
            ([(header::CONTENT_TYPE, *content_type), (header::CACHE_CONTROL, "no-cache")], *bytes).into_response()
        }
        None => ApiError::not_found(format!("no asset {file}")).into_response(),
    }
}

/// The page, for every path of the UI (GET and HEAD); an unknown `/api/...` path is a
/// JSON 404, another method a JSON 405.
pub async fn page(method: Method, uri: Uri) -> Response {
    if uri.path().starts_with("/api/") || uri.path() == "/api" {
        return ApiError::not_found(format!("no API endpoint {} (see docs/console.md)", uri.path())).into_response();
    }
    if method != Method::GET && method != Method::HEAD {
        return method_not_allowed(method, uri).await;
    }
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], INDEX)
        .into_response()
}

/// A JSON 405 for a method a path does not take.
pub async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    ApiError { status: StatusCode::METHOD_NOT_ALLOWED, message: format!("{} does not take {method}", uri.path()) }
        .into_response()
}
