//! `#[derive(HookModel)]` with `#[hook(app = "...", owner = field, model = "...")]`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Data, DeriveInput, Fields, Ident, LitStr};

use crate::errors::Errors;

/// What `#[hook(...)]` says.
#[derive(Default)]
struct HookAttr {
    app: Option<LitStr>,
    model: Option<LitStr>,
    owner: Option<Ident>,
}

pub(crate) fn expand(input: &DeriveInput) -> syn::Result<TokenStream> {
    let attr = hook_attr(input)?;
    let ident = &input.ident;
    let app = attr.app.ok_or_else(|| {
        syn::Error::new(
            ident.span(),
            "missing `#[hook(app = \"...\")]`: a hook model needs the app label it has in `app.Model.action`",
        )
    })?;
    let model = attr
        .model
        .unwrap_or_else(|| LitStr::new(&ident.to_string(), ident.span()));
    let owner_fn = match &attr.owner {
        Some(owner) => {
            check_owner_field(input, owner)?;
            quote! {
                fn owner(&self) -> ::core::option::Option<::rest_hooks::__private::String> {
                    ::core::option::Option::Some(::rest_hooks::__private::ToString::to_string(&self.#owner))
                }
            }
        }
        None => quote! {
            fn owner(&self) -> ::core::option::Option<::rest_hooks::__private::String> {
                ::core::option::Option::None
            }
        },
    };
    let has_owner = attr.owner.is_some();
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    Ok(quote! {
        impl #impl_generics ::rest_hooks::HookModel for #ident #ty_generics #where_clause {
            const APP: &'static str = #app;
            const MODEL: &'static str = #model;
            const HAS_OWNER: bool = #has_owner;
            #owner_fn
        }
    })
}

fn hook_attr(input: &DeriveInput) -> syn::Result<HookAttr> {
    let mut attr = HookAttr::default();
    let mut errors = Errors::default();
    for hook in input.attrs.iter().filter(|a| a.path().is_ident("hook")) {
        let parsed = hook.parse_nested_meta(|meta| {
            if meta.path.is_ident("app") {
                set_once(&mut attr.app, label(&meta, "app")?, &meta)
            } else if meta.path.is_ident("model") {
                set_once(&mut attr.model, label(&meta, "model")?, &meta)
            } else if meta.path.is_ident("owner") {
                let owner: Ident = meta.value()?.parse().map_err(|error| {
                    syn::Error::new(
                        error.span(),
                        "expected the owner's field name, like `owner = user`",
                    )
                })?;
                set_once(&mut attr.owner, owner, &meta)
            } else {
                Err(meta.error("unknown `hook` argument: expected `app`, `owner` or `model`"))
            }
        });
        if let Err(error) = parsed {
            errors.push(error);
        }
    }
    match errors.finish() {
        Some(error) => Err(error),
        None => Ok(attr),
    }
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

fn check_owner_field(input: &DeriveInput, owner: &Ident) -> syn::Result<()> {
    let fields = match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(fields) => &fields.named,
            _ => {
                return Err(syn::Error::new(
                    owner.span(),
                    "`owner` names a field, and this struct has no named fields",
                ));
            }
        },
        _ => {
            return Err(syn::Error::new(
                owner.span(),
                "`owner` names a field of a struct; implement `HookModel` by hand to find the owner of an enum",
            ));
        }
    };
    if fields
        .iter()
        .any(|field| field.ident.as_ref() == Some(owner))
    {
        Ok(())
    } else {
        Err(syn::Error::new(
            owner.span(),
            format!(
                "no field `{owner}` on `{}` to take the owner from",
                input.ident
            ),
        ))
    }
}
