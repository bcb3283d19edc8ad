//! Compiles the server side of the protocol with protox (pure Rust, so no
//! system `protoc`), and writes the descriptor set that server reflection
//! serves. The messages and the client are `inkan-proto`'s: one set of
//! types, with one redacting `Debug` for those that carry tokens.

use std::{env, fs, path::PathBuf};

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let out = PathBuf::from(env::var("OUT_DIR")?);
    let descriptors = protox::compile(["inkan/v1/inkan.proto"], ["proto"])?;
    fs::write(
        out.join("inkan_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(true)
        .extern_path(".inkan.v1", "::inkan_proto::v1")
        .compile_fds(descriptors)?;
    Ok(())
}
