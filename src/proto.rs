//! The server side of `proto/inkan/v1/inkan.proto`, and the descriptor set
//! that server reflection serves.

/// `inkan.v1`: the token service contract. Messages and the client are
/// `inkan-proto`'s (so a token-bearing message has one redacting `Debug`);
/// the server trait is generated here.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod v1 {
    pub use inkan_proto::v1::*;
    tonic::include_proto!("inkan.v1");
}

/// Encoded `FileDescriptorSet` of the protocol and its imports.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("inkan_descriptor");
