//! Procedural macros of `rest-hooks`: `hook_events!` and `#[derive(HookModel)]`.
//!
//! Use them through the `rest-hooks` crate, which re-exports them and documents them;
//! the code they generate names `::rest_hooks` paths.

// Library code reports errors; a panic here is a bug.
#![warn(clippy::unwrap_used, clippy::panic)]

mod ast;
mod check;
mod ctxt;
mod derive_model;
mod expand;
mod parse;

use proc_macro::TokenStream;

use ctxt::Ctxt;

/// Declares the event table; documented in `rest_hooks::hook_events!`.
#[proc_macro]
pub fn hook_events(input: TokenStream) -> TokenStream {
    let cx = Ctxt::default();
    let table = parse::table(&cx, input.into());
    let plan = check::table(&cx, &table);
    with_errors(expand::table(&table, &plan), cx)
}

/// Implements `rest_hooks::HookModel`; documented in `rest_hooks::HookModel`.
#[proc_macro_derive(HookModel, attributes(hook))]
pub fn derive_hook_model(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    let cx = Ctxt::default();
    let output = derive_model::expand(&cx, &input);
    with_errors(output, cx)
}

/// The items emitted, which other code names even when something was wrong, and
/// every error of the call after them.
fn with_errors(mut output: proc_macro2::TokenStream, cx: Ctxt) -> TokenStream {
    if let Some(errors) = cx.finish() {
        output.extend(errors.into_compile_error());
    }
    output.into()
}
