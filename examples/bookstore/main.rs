//! The bookstore: the seed's event table, the management API and a webhook receiver
//! on loopback, and a short, readable log of what the receiver gets.
//!
//! ```sh
//! cargo run --example bookstore                                   # SQLite in a temp dir
//! cargo run --example bookstore -- --database-url postgres://postgres@127.0.0.1/test
//! cargo run --example bookstore -- --serve [--port 3000]          # keep serving until Ctrl-C
//! ```

// `pub` models, as a table's models must be, in a private module.
#[allow(unreachable_pub)]
mod app;

#[tokio::main]
async fn main() {
    let usage = "usage: bookstore [--database-url postgres://…] [--serve [--port P]]";
    let mut args = std::env::args().skip(1);
    let mut database_url = None;
    let mut serve = false;
    let mut port = 0;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--database-url" => database_url = args.next(),
            "--serve" => serve = true,
            "--port" => match args.next().and_then(|p| p.parse().ok()) {
                Some(p) => port = p,
                None => {
                    eprintln!("--port takes a port number; {usage}");
                    std::process::exit(2);
                }
            },
            other => {
                eprintln!("unknown argument `{other}`; {usage}");
                std::process::exit(2);
            }
        }
    }
    let mut out = std::io::stdout();
    let ran = if serve {
        app::serve_until_stopped(&mut out, database_url, port).await
    } else {
        app::run(&mut out, database_url).await
    };
    if let Err(error) = ran {
        eprintln!("bookstore failed: {}", app::describe(error.as_ref()));
        std::process::exit(1);
    }
}
