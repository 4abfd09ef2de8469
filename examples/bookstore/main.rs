//! The bookstore: the seed's event table, the management API and a webhook receiver
//! on loopback, and a short, readable log of what the receiver gets.
//!
//! ```sh
//! cargo run --example bookstore                                   # SQLite in a temp dir
//! cargo run --example bookstore -- --database-url postgres://postgres@127.0.0.1/test
//! ```

// `pub` models, as a table's models must be, in a private module.
#[allow(unreachable_pub)]
mod app;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut database_url = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--database-url" => database_url = args.next(),
            other => {
                eprintln!(
                    "unknown argument `{other}`; usage: bookstore [--database-url postgres://…]"
                );
                std::process::exit(2);
            }
        }
    }
    let mut out = std::io::stdout();
    if let Err(error) = app::run(&mut out, database_url).await {
        eprintln!("bookstore failed: {error}");
        std::process::exit(1);
    }
}
