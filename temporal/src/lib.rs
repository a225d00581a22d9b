//! Talking to Temporal, shared by the API and the worker: the client connection, the codec that
//! encrypts every payload, the custom search attributes the workflows carry, and starting the
//! workflow of a registered operation (`starts`).
//!
//! Address, namespace and credentials come from the SDK's envconfig (TEMPORAL_ADDRESS,
//! TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*, or a TOML profile), so the same binary
//! talks to a dev server, a self-hosted cluster or Temporal Cloud.

pub mod codec;
pub mod decisions;
pub mod nightly;
pub mod schedules;
pub mod starts;
pub mod trace_context;

use crate::codec::EncryptionCodec;
use djinn_workflows::search_attributes::KEYWORD_ATTRIBUTES;
use std::collections::HashMap;
use temporalio_client::envconfig::LoadClientConfigProfileOptions;
use temporalio_client::grpc::OperatorService;
use temporalio_client::tonic::{Code, Request};
use temporalio_client::{Client, ClientOptions, GrpcCompression};
use temporalio_common::data_converters::{
    DataConverter, DefaultFailureConverter, PayloadConverter,
};
use temporalio_common::protos::temporal::api::enums::v1::IndexedValueType;
use temporalio_common::protos::temporal::api::operatorservice::v1::{
    AddSearchAttributesRequest, ListSearchAttributesRequest,
};

#[derive(Debug, thiserror::Error)]
pub enum TemporalError {
    #[error("Temporal configuration: {0}")]
    Config(String),
    #[error("cannot connect to Temporal: {0}")]
    Connect(String),
    #[error("cannot register search attributes: {0}")]
    SearchAttributes(String),
}

/// Loads the connection settings of the environment (and profile file) without connecting, so
/// that a process can refuse a malformed configuration before it starts.
pub fn check_config() -> Result<(), TemporalError> {
    ClientOptions::load_from_config(LoadClientConfigProfileOptions::default())
        .map(drop)
        .map_err(|e| TemporalError::Config(e.to_string()))
}

/// Connects with the settings of the environment (and profile file, when there is one). With a
/// codec, every payload this client (and a worker built on it) sends is encrypted.
pub async fn connect_from_env(
    identity: &str,
    codec: Option<&EncryptionCodec>,
) -> Result<Client, TemporalError> {
    let (mut connection, mut client) =
        ClientOptions::load_from_config(LoadClientConfigProfileOptions::default())
            .map_err(|e| TemporalError::Config(e.to_string()))?;
    connection.identity = identity.to_owned();
    // The SDK gzips every gRPC message by default. Djinn's payloads are encrypted, and
    // ciphertext does not compress: gzip would only spend CPU here and in the Temporal server,
    // which on a small cluster is what limits throughput.
    connection.grpc_compression = GrpcCompression::None;
    if let Some(codec) = codec {
        client.data_converter = data_converter(codec);
    }
    Client::connect(connection, client)
        .await
        .map_err(|e| TemporalError::Connect(e.to_string()))
}

/// The SDK's JSON payloads and failures, with payloads encrypted by `codec`. Failure messages
/// stay readable for operations staff, so they must never carry amounts or names.
pub fn data_converter(codec: &EncryptionCodec) -> DataConverter {
    DataConverter::new(
        PayloadConverter::default(),
        DefaultFailureConverter::default(),
        codec.clone(),
    )
}

/// Adds any of Djinn's search attributes the namespace lacks. Idempotent; when the credentials
/// may not change the namespace (as with some Temporal Cloud keys) the attributes must be added
/// by an operator, and the error says so.
pub async fn register_search_attributes(client: &Client) -> Result<(), TemporalError> {
    let namespace = client.options().namespace.clone();
    let mut operator = client.clone();
    let existing = operator
        .list_search_attributes(Request::new(ListSearchAttributesRequest {
            namespace: namespace.clone(),
        }))
        .await
        .map_err(|e| TemporalError::SearchAttributes(e.message().to_owned()))?
        .into_inner();
    let missing: HashMap<String, i32> = KEYWORD_ATTRIBUTES
        .iter()
        .filter(|name| !existing.custom_attributes.contains_key(**name))
        .map(|name| ((*name).to_owned(), IndexedValueType::Keyword as i32))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    tracing::info!(attributes = ?missing.keys().collect::<Vec<_>>(), "registering search attributes");
    match operator
        .add_search_attributes(Request::new(AddSearchAttributesRequest {
            search_attributes: missing,
            namespace,
        }))
        .await
    {
        Ok(_) => Ok(()),
        Err(status) if status.code() == Code::AlreadyExists => Ok(()),
        Err(status) => Err(TemporalError::SearchAttributes(status.message().to_owned())),
    }
}
