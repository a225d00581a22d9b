//! The body of a POST to `/graphql`, read within its limits: a JSON request within
//! [`REQUEST_BODY_MAX_BYTES`], or a multipart request (the GraphQL multipart request spec) of
//! one file within the configured upload limit. async-graphql-axum's extractor reads a
//! multipart request with no limit at all, so the route reads its body here instead.

use crate::limits::REQUEST_BODY_MAX_BYTES;
use async_graphql::ParseRequestError;
use async_graphql::http::MultipartOptions;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::TryStreamExt;

/// The default largest statement file an upload may carry: a million-line CSV export fits.
pub const DEFAULT_UPLOAD_MAX_BYTES: usize = 128 * 1024 * 1024;

/// Reads the request's GraphQL operation; a refusal is the HTTP answer (413 past a limit).
pub(crate) async fn read(
    request: Request,
    upload_max: usize,
) -> Result<async_graphql::Request, Response> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let multipart = content_type
        .as_deref()
        .is_some_and(|kind| kind.starts_with("multipart/form-data"));
    let options = MultipartOptions::default()
        .max_file_size(upload_max)
        .max_num_files(1);
    let received = if multipart {
        // The file within `upload_max`; the operation and its map within the JSON limit.
        let limit = upload_max.saturating_add(REQUEST_BODY_MAX_BYTES);
        let body = Body::new(http_body_util::Limited::new(request.into_body(), limit));
        let reader = body
            .into_data_stream()
            .map_err(std::io::Error::other)
            .into_async_read();
        async_graphql::http::receive_batch_body(content_type, reader, options).await
    } else {
        let bytes = axum::body::to_bytes(request.into_body(), REQUEST_BODY_MAX_BYTES)
            .await
            .map_err(|_| StatusCode::PAYLOAD_TOO_LARGE.into_response())?;
        async_graphql::http::receive_batch_body(content_type, &bytes[..], options).await
    };
    match received.and_then(async_graphql::BatchRequest::into_single) {
        Ok(request) => Ok(request),
        Err(ParseRequestError::PayloadTooLarge) => {
            Err(StatusCode::PAYLOAD_TOO_LARGE.into_response())
        }
        Err(ParseRequestError::Io(error)) if too_large(&error) => {
            Err(StatusCode::PAYLOAD_TOO_LARGE.into_response())
        }
        Err(error) => Err((StatusCode::BAD_REQUEST, format!("{error}")).into_response()),
    }
}

/// Whether reading the body stopped at its length limit.
fn too_large(error: &std::io::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = error.get_ref().map(|e| e as _);
    while let Some(cause) = source {
        if cause.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = cause.source();
    }
    false
}
