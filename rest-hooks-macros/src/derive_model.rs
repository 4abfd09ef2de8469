//! `#[derive(HookModel)]` with `#[hook(app = "...", owner = field, model = "...",
//! example = path)]`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Data, DeriveInput, Fields, Ident, LitStr};

use crate::ctxt::Ctxt;

/// What `#[hook(...)]` says.
#[derive(Default)]
struct HookAttr {
    /// Whether `app` was written, even if not as it should be.
    app_written: bool,
    app: Option<LitStr>,
    model: Option<LitStr>,
    owner: Option<Ident>,
    /// A `fn() -> Self` that makes the model's example.
    example: Option<syn::Path>,
}

/// The impl of `HookModel` for `input`. On a mistake, the errors are in `cx` and a
/// fallback impl stands in, which every table accepts, so that one mistake gives
/// one error and not a second one in the table that names the model.
pub(crate) fn expand(cx: &Ctxt, input: &DeriveInput) -> TokenStream {
    let attr = hook_attr(cx, input);
    let ident = &input.ident;
    if !attr.app_written {
        cx.error_at(
            ident.span(),
            "missing `#[hook(app = \"...\")]`: a hook model needs the app label it has in `app.Model.action`",
        );
    }
    if let Some(owner) = &attr.owner {
        check_owner_field(cx, input, owner);
    }
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let header =
        quote!(impl #impl_generics ::rest_hooks::HookModel for #ident #ty_generics #where_clause);
    let (Some(app), true) = (&attr.app, cx.is_ok()) else {
        return quote! {
            #header {
                const APP: &'static str = "";
                const MODEL: &'static str = "";
                const HAS_OWNER: bool = true;
                #[doc(hidden)]
                const __FALLBACK: bool = true;
                fn owner(&self) -> ::core::option::Option<::rest_hooks::__private::String> {
                    ::core::option::Option::None
                }
            }
        };
    };
    let model = attr
        .model
        .unwrap_or_else(|| LitStr::new(&ident.to_string(), ident.span()));
    let owner_fn = match &attr.owner {
        Some(owner) => quote! {
            fn owner(&self) -> ::core::option::Option<::rest_hooks::__private::String> {
                ::core::option::Option::Some(::rest_hooks::__private::ToString::to_string(&self.#owner))
            }
        },
        None => quote! {
            fn owner(&self) -> ::core::option::Option<::rest_hooks::__private::String> {
                ::core::option::Option::None
            }
        },
    };
    let has_owner = attr.owner.is_some();
    let example_fn = attr.example.map(|example| {
        quote! {
            fn example() -> ::core::option::Option<Self> {
                ::core::option::Option::Some(#example())
            }
        }
    });
    quote! {
        #header {
            const APP: &'static str = #app;
            const MODEL: &'static str = #model;
            const HAS_OWNER: bool = #has_owner;
            #[doc(hidden)]
            const __DEFAULT_PAYLOAD: bool = true;
            #owner_fn
            #example_fn
        }
    }
}

fn hook_attr(cx: &Ctxt, input: &DeriveInput) -> HookAttr {
    let mut attr = HookAttr::default();
    for hook in input.attrs.iter().filter(|a| a.path().is_ident("hook")) {
        let parsed = hook.parse_nested_meta(|meta| {
            if meta.path.is_ident("app") {
                attr.app_written = true;
                set_once(&mut attr.app, label(&meta, "app")?, &meta)
            } else if meta.path.is_ident("model") {
                set_once(&mut attr.model, label(&meta, "model")?, &meta)
            } else if meta.path.is_ident("example") {
                let example: syn::Path = meta.value()?.parse().map_err(|error| {
                    syn::Error::new(
                        error.span(),
                        "expected the path of a `fn() -> Self`, like `example = Book::example`",
                    )
                })?;
                set_once(&mut attr.example, example, &meta)
            } else if meta.path.is_ident("owner") {
                let owner: Ident = meta.value()?.parse().map_err(|error| {
                    syn::Error::new(
                        error.span(),
                        "expected the owner's field name, like `owner = user`",
                    )
                })?;
                set_once(&mut attr.owner, owner, &meta)
            } else {
                Err(meta.error(
                    "unknown `hook` argument: expected `app`, `owner`, `model` or `example`",
                ))
            }
        });
        if let Err(error) = parsed {
            cx.syn_error(error);
        }
    }
    attr
}

/// `app = "..."` or `model = "..."`: a string that is an identifier, since the
/// table writes it as one.
fn label(meta: &syn::meta::ParseNestedMeta<'_>, what: &str) -> syn::Result<LitStr> {
    let value: LitStr = meta.value()?.parse()?;
    if syn::parse_str::<Ident>(&value.value()).is_err() {
        return Err(syn::Error::new(
            value.span(),
            format!("`{what}` must be an identifier, as it is written in `app.Model.action`"),
        ));
    }
    Ok(value)
}

fn set_once<T>(
    slot: &mut Option<T>,
    value: T,
    meta: &syn::meta::ParseNestedMeta<'_>,
) -> syn::Result<()> {
    if slot.is_some() {
        return Err(meta.error("this `hook` argument is given twice"));
    }
    *slot = Some(value);
    Ok(())
}

fn check_owner_field(cx: &Ctxt, input: &DeriveInput, owner: &Ident) {
    let fields = match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(fields) => &fields.named,
            _ => {
                return cx.error_at(
                    owner.span(),
                    "`owner` names a field, and this struct has no named fields",
                );
            }
        },
        _ => {
            return cx.error_at(
                owner.span(),
                "`owner` names a field of a struct; implement `HookModel` by hand to find the owner of an enum",
            );
        }
    };
    if !fields
        .iter()
        .any(|field| field.ident.as_ref() == Some(owner))
    {
        cx.error_at(
            owner.span(),
            format!(
                "no field `{owner}` on `{}` to take the owner from",
                input.ident
            ),
        );
    }
}
