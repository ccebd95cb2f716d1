//! `avarisk-train --data FILE --epochs N [--device cuda|cpu|auto] --out DIR`: see `avarisk_nn::trainer`.
fn main() -> std::process::ExitCode {
    avarisk_nn::trainer::main()
}
