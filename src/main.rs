//! The `inkan` binary: all behaviour lives in the library.

#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    inkan::cli::main()
}
