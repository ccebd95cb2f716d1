//! Bakes libtorch's library directory into `avarisk-train`'s RUNPATH so it runs without LD_LIBRARY_PATH, and keeps
//! `libtorch_cuda` linked (rustc's `--as-needed` would drop it) so CUDA is used when a GPU is present. Same as the
//! avarisk crate's build script.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
        if std::path::Path::new(&dir).join("libtorch_cuda.so").exists() {
            println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
        }
    }
}
