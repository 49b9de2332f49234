// See api/Cargo.toml: glibc's malloc was a third of the server's CPU under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(wangge_api::cli::run());
}
