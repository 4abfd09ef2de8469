//! Parses a `hook_events!` table. Each entry is parsed on its own, so that a
//! malformed entry is reported and the others are still checked and emitted.

use proc_macro2::{TokenStream, TokenTree};
use syn::parse::{ParseStream, Parser};
use syn::{Attribute, Ident, LitStr, Token};

use crate::ast::{Entry, Mapping, ModelMapping, Table};
use crate::ctxt::Ctxt;

const EXPECTED_MAPPING: &str = "expected `None` or `app.Model.action`";

/// The entries that parse; each one that does not is an error in `cx`.
pub(crate) fn table(cx: &Ctxt, input: TokenStream) -> Table {
    let mut entries = Vec::new();
    let chunks = split_at_commas(input);
    let last = chunks.len().saturating_sub(1);
    for (i, chunk) in chunks.into_iter().enumerate() {
        match chunk {
            // A trailing comma leaves an empty last chunk.
            Chunk::Empty(_) if i == last => {}
            Chunk::Empty(comma) => cx.error_spanned_by(
                comma,
                "expected an entry like `\"book.added\" => bookstore.Book.created` before this comma",
            ),
            Chunk::Tokens(tokens) => match entry.parse2(tokens) {
                Ok(entry) => entries.push(entry),
                Err(error) => cx.syn_error(error),
            },
        }
    }
    Table { entries }
}

enum Chunk {
    /// Nothing before this comma (or before the end of input, for the last one).
    Empty(Option<Token![,]>),
    Tokens(TokenStream),
}

/// Splits the table at its top-level commas; commas inside groups (attributes)
/// stay where they are.
fn split_at_commas(input: TokenStream) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    let mut current = TokenStream::new();
    for tree in input {
        match tree {
            TokenTree::Punct(punct) if punct.as_char() == ',' => {
                let chunk = std::mem::take(&mut current);
                chunks.push(if chunk.is_empty() {
                    Chunk::Empty(Some(Token![,](punct.span())))
                } else {
                    Chunk::Tokens(chunk)
                });
            }
            other => current.extend([other]),
        }
    }
    chunks.push(if current.is_empty() {
        Chunk::Empty(None)
    } else {
        Chunk::Tokens(current)
    });
    chunks
}

fn entry(input: ParseStream<'_>) -> syn::Result<Entry> {
    let attrs = input.call(Attribute::parse_outer)?;
    if !input.peek(LitStr) {
        return Err(
            input.error("expected the event name as a string literal, like `\"book.added\"`")
        );
    }
    let name: LitStr = input.parse()?;
    if !input.peek(Token![=>]) {
        return Err(input.error(format!("expected `=>` after `{}`", quoted(&name))));
    }
    let arrow: Token![=>] = input.parse()?;
    if input.is_empty() {
        return Err(syn::Error::new_spanned(
            arrow,
            format!("{EXPECTED_MAPPING} after `=>`"),
        ));
    }
    let mapping = mapping(input)?;
    if !input.is_empty() {
        return Err(input.error("expected `,` after the mapping"));
    }
    Ok(Entry {
        attrs,
        name,
        mapping,
    })
}

fn mapping(input: ParseStream<'_>) -> syn::Result<Mapping> {
    let app = segment(input, EXPECTED_MAPPING)?;
    if app == "None" && !input.peek(Token![.]) {
        return Ok(Mapping::Raw);
    }
    dot(input, &app, "a model", &format!("`{app}.Model.action`"))?;
    let model = segment(input, "expected the model, as in `app.Model.action`")?;
    let written = format!("{app}.{model}");
    dot(input, &model, "an action", &format!("`{written}.created`"))?;
    let action = segment(input, "expected the action, as in `app.Model.action`")?;
    let plus = input.parse::<Option<Token![+]>>()?;
    if input.peek(Token![.]) {
        return Err(input.error(format!(
            "expected `,` after `{written}.{action}`: a mapping has three parts, `app.Model.action`"
        )));
    }
    Ok(Mapping::Model(ModelMapping {
        app,
        model,
        action,
        plus,
    }))
}

/// One identifier of `app.Model.action`; a `+` here is in the wrong place.
fn segment(input: ParseStream<'_>, expected: &str) -> syn::Result<Ident> {
    if input.peek(Token![+]) {
        return Err(input.error("`+` goes after the action, as in `app.Model.action+`"));
    }
    if !input.peek(Ident) {
        return Err(input.error(expected));
    }
    input.parse()
}

/// The `.` after `after`, which must be followed by `what`.
fn dot(input: ParseStream<'_>, after: &Ident, what: &str, example: &str) -> syn::Result<()> {
    if input.peek(Token![+]) {
        return Err(input.error("`+` goes after the action, as in `app.Model.action+`"));
    }
    if !input.peek(Token![.]) {
        return Err(syn::Error::new(
            after.span(),
            format!("expected `.` and {what} after `{after}`, as in {example}"),
        ));
    }
    input.parse::<Token![.]>()?;
    Ok(())
}

fn quoted(name: &LitStr) -> String {
    format!("\"{}\"", name.value())
}
