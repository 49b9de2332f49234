fn main() {
    std::process::exit(wangge_api::cli::run());
}
