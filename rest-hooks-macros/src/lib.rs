//! Procedural macros of `rest-hooks`: `hook_events!` and `#[derive(HookModel)]`.
//!
//! Use them through the `rest-hooks` crate, which re-exports them and documents them;
//! the code they generate names `::rest_hooks` paths.

// Library code reports errors; a panic here is a bug.
#![warn(clippy::unwrap_used, clippy::panic)]

mod ast;
mod check;
mod derive_model;
mod errors;
mod expand;
mod parse;

use proc_macro::TokenStream;

/// Declares the event table; documented in `rest_hooks::hook_events!`.
#[proc_macro]
pub fn hook_events(input: TokenStream) -> TokenStream {
    let (table, parse_errors) = parse::table(input.into());
    let (plan, check_errors) = check::table(&table);
    let mut output = expand::table(&table, &plan);
    for error in parse_errors.into_iter().chain(check_errors) {
        output.extend(error.into_compile_error());
    }
    output.into()
}

/// Implements `rest_hooks::HookModel`; documented in `rest_hooks::HookModel`.
#[proc_macro_derive(HookModel, attributes(hook))]
pub fn derive_hook_model(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    derive_model::expand(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
