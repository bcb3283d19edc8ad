//! The generated messages and [`v1::token_service_client::TokenServiceClient`]
//! of `proto/inkan/v1/inkan.proto`: `inkan-proto`'s, the same types the
//! server answers with, re-exported so a consumer needs only this crate.

pub use inkan_proto::v1;
