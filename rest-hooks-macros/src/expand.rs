//! Emits the code of a `hook_events!` table: the `EVENTS` registry with its
//! perfect-hash tables, one struct per event, and the compile-time model checks.

use phf_shared::PhfHash;
use proc_macro2::TokenStream;
use quote::{ToTokens, quote, quote_spanned};
use syn::Ident;

use crate::ast::{Entry, Mapping, ModelMapping, Table};
use crate::check::Plan;

/// Emits the table as `check` planned it. It adds no errors of its own: what it
/// needs the compiler to check, it emits as code at the user's tokens.
pub(crate) fn table(table: &Table, plan: &Plan) -> TokenStream {
    let mut specs = Vec::with_capacity(table.entries.len());
    let mut contracts = Vec::with_capacity(table.entries.len());
    let mut by_name = Vec::new();
    let mut by_action = Vec::new();
    let mut items = TokenStream::new();
    let mut checks = ModelChecks::default();

    for (index, (entry, entry_plan)) in table.entries.iter().zip(&plan.entries).enumerate() {
        specs.push(spec(entry));
        contracts.push(contract(entry, entry_plan.struct_ident.as_ref()));
        if entry_plan.first_name {
            by_name.push((NameKey(entry.name.value()), index));
        }
        if let (Mapping::Model(mapping), true) = (&entry.mapping, entry_plan.first_action) {
            let key = ActionKey(format!(
                "{}\0{}\0{}",
                mapping.app, mapping.model, mapping.action
            ));
            by_action.push((key, index));
        }
        if let Some(ident) = &entry_plan.struct_ident {
            items.extend(event_struct(entry, ident));
            if let Mapping::Model(mapping) = &entry.mapping {
                checks.add(ident, mapping);
            }
        }
    }

    let by_name = perfect_table(&by_name);
    let by_action = perfect_table(&by_action);
    quote! {
        /// The event table of this module, declared with `hook_events!`.
        pub static EVENTS: ::rest_hooks::Registry = ::rest_hooks::Registry::__new(
            &[#(#specs),*],
            &[#(#contracts),*],
            #by_name,
            #by_action,
        );
        #items
        #checks
    }
}

fn spec(entry: &Entry) -> TokenStream {
    let name = &entry.name;
    let action = match &entry.mapping {
        Mapping::Raw => quote!(::core::option::Option::None),
        Mapping::Model(mapping) => {
            let app = mapping.app.to_string();
            let model = mapping.model.to_string();
            let action = mapping.action.to_string();
            let all_owners = mapping.plus.is_some();
            quote! {
                ::core::option::Option::Some(::rest_hooks::ModelAction {
                    app: #app,
                    model: #model,
                    action: #action,
                    all_owners: #all_owners,
                })
            }
        }
    };
    quote!(::rest_hooks::EventSpec { name: #name, action: #action })
}

/// What the event promises its receivers: its doc comment, its data's schema and
/// its example, asked of the model through the event's struct (so that a model
/// not in scope is reported once, at the struct) by autoref, so that a model
/// without `JsonSchema` (or an example) still compiles, with any JSON.
fn contract(entry: &Entry, ident: Option<&Ident>) -> TokenStream {
    let description = doc_text(entry);
    let data = match (&entry.mapping, ident) {
        (Mapping::Model(_), Some(ident)) => quote!(<#ident as ::rest_hooks::Event>::Model),
        _ => quote!(::rest_hooks::Raw),
    };
    quote! {
        ::rest_hooks::__private::EventContract {
            description: #description,
            data_schema: |generator| {
                #[allow(unused_imports)]
                use ::rest_hooks::__private::{Fallback as _, ViaJsonSchema as _};
                (&&::rest_hooks::__private::Probe::<#data>::new()).data_schema(generator)
            },
            example: |hook| {
                #[allow(unused_imports)]
                use ::rest_hooks::__private::{NoExample as _, ViaHookModel as _};
                (&&::rest_hooks::__private::Probe::<#data>::new()).example(hook)
            },
        }
    }
}

/// The doc comment written on an entry, its lines joined with newlines.
fn doc_text(entry: &Entry) -> String {
    let lines: Vec<String> = entry
        .attrs
        .iter()
        .filter(|attr| attr.path().is_ident("doc"))
        .filter_map(|attr| match &attr.meta {
            syn::Meta::NameValue(syn::MetaNameValue {
                value:
                    syn::Expr::Lit(syn::ExprLit {
                        lit: syn::Lit::Str(line),
                        ..
                    }),
                ..
            }) => Some(line.value().trim().to_owned()),
            _ => None,
        })
        .collect();
    lines.join("\n").trim().to_owned()
}

fn event_struct(entry: &Entry, ident: &Ident) -> TokenStream {
    let name = &entry.name;
    let attrs = &entry.attrs;
    let has_doc = attrs.iter().any(|attr| attr.path().is_ident("doc"));
    let default_doc = (!has_doc).then(|| {
        let doc = match &entry.mapping {
            Mapping::Raw => format!("The raw event `{}`.", name.value()),
            Mapping::Model(mapping) => format!(
                "The event `{}`: `{}{}`.",
                name.value(),
                mapping.key(),
                if mapping.plus.is_some() { "+" } else { "" }
            ),
        };
        quote!(#[doc = #doc])
    });
    let (model, all_owners) = match &entry.mapping {
        Mapping::Raw => (quote!(::rest_hooks::Raw), false),
        Mapping::Model(mapping) => {
            let model = &mapping.model;
            (quote!(#model), mapping.plus.is_some())
        }
    };
    quote! {
        #default_doc
        #(#attrs)*
        pub struct #ident;

        impl ::rest_hooks::Event for #ident {
            type Model = #model;
            const NAME: &'static str = #name;
            const ALL_OWNERS: bool = #all_owners;
        }
    }
}

/// The models of a table, each with what the compiler must check of it.
#[derive(Default)]
struct ModelChecks<'a> {
    models: Vec<ModelUse<'a>>,
}

/// One model as a table writes it, `app.Model`, with the mappings that use it.
struct ModelUse<'a> {
    /// The struct of its first event: `<Struct as Event>::Model` is the model, so a
    /// model that is not in scope is reported once, at the struct's impl.
    event: &'a Ident,
    first: &'a ModelMapping,
    /// Its mappings without `+`, which need the model to have an owner.
    without_plus: Vec<&'a ModelMapping>,
}

impl<'a> ModelChecks<'a> {
    fn add(&mut self, event: &'a Ident, mapping: &'a ModelMapping) {
        let same = |m: &ModelUse<'a>| m.first.app == mapping.app && m.first.model == mapping.model;
        let index = match self.models.iter().position(same) {
            Some(index) => index,
            None => {
                self.models.push(ModelUse {
                    event,
                    first: mapping,
                    without_plus: Vec::new(),
                });
                self.models.len() - 1
            }
        };
        if mapping.plus.is_none() {
            self.models[index].without_plus.push(mapping);
        }
    }
}

impl ToTokens for ModelChecks<'_> {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        tokens.extend(self.models.iter().map(ModelUse::check));
    }
}

impl ModelUse<'_> {
    /// A constant that the compiler evaluates: the model must implement `HookModel`
    /// with the app label and model name written, and have an owner if a mapping
    /// lacks `+`. One check per model, so that one mistake gives one error, at the
    /// user's tokens.
    fn check(&self) -> TokenStream {
        let ModelMapping { app, model, .. } = self.first;
        let event = self.event;
        let written = format!("{app}.{model}");
        let app_label = app.to_string();
        let model_name = model.to_string();
        let needs_owner = !self.without_plus.is_empty();
        let other_app = format!(
            "`{model}` implements `HookModel` with another app label than `{app}`: write its label in `{written}`, or `#[hook(app = \"{app}\")]` on `{model}`"
        );
        let other_model = format!(
            "`{model}` implements `HookModel` with another model name than `{model}`: write that name in the table, with the type imported under it (`use path::{model} as Name;`)"
        );
        let unowned: Vec<String> = self
            .without_plus
            .iter()
            .map(|t| format!("`{}`", t.key()))
            .collect();
        let no_owner = format!(
            "`{model}` has no owner, so {} must go to every owner's hooks: add `+` after the action, or give `{model}` an owner with `#[hook(owner = field)]`",
            unowned.join(", ")
        );
        let owner_span = self
            .without_plus
            .first()
            .map_or(model.span(), |t| t.action.span());
        let check = quote_spanned! {model.span()=>
            ::rest_hooks::__private::check_model::<<#event as ::rest_hooks::Event>::Model>(#app_label, #model_name, #needs_owner)
        };
        let app_error =
            quote_spanned!(app.span()=> ::rest_hooks::__private::table_error(#other_app));
        let model_error =
            quote_spanned!(model.span()=> ::rest_hooks::__private::table_error(#other_model));
        let owner_error =
            quote_spanned!(owner_span=> ::rest_hooks::__private::table_error(#no_owner));
        quote! {
            const _: () = match #check {
                ::rest_hooks::__private::ModelCheck::Ok => {}
                ::rest_hooks::__private::ModelCheck::OtherApp => #app_error,
                ::rest_hooks::__private::ModelCheck::OtherModel => #model_error,
                ::rest_hooks::__private::ModelCheck::NoOwner => #owner_error,
            };
        }
    }
}

/// A key of one of the registry's tables: hashed as the runtime hashes what it
/// looks up, and written as the runtime's key type.
trait TableKey: PhfHash {
    fn literal(&self) -> TokenStream;
}

/// An event name, a `&'static str` at run time.
struct NameKey(String);

impl PhfHash for NameKey {
    /// Its bytes alone, as `Registry::get` hashes a name.
    fn phf_hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write(self.0.as_bytes());
    }
}

impl TableKey for NameKey {
    fn literal(&self) -> TokenStream {
        let name = &self.0;
        quote!(#name)
    }
}

/// The key of `app.Model.action` in the registry's `by_action` table: the bytes
/// `app NUL Model NUL action`, which `Registry::for_action` hashes and compares
/// part by part.
struct ActionKey(String);

impl PhfHash for ActionKey {
    /// Its bytes alone, as `Registry::for_action` hashes the parts.
    fn phf_hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write(self.0.as_bytes());
    }
}

impl TableKey for ActionKey {
    /// A string literal and `as_bytes`: shorter to compile than a byte array.
    fn literal(&self) -> TokenStream {
        let key = &self.0;
        quote!(#key.as_bytes())
    }
}

/// A `PerfectTable` of the keys, each with the index of its event: built here, in
/// PtrHash's layout, so that the runtime only hashes and reads.
fn perfect_table<K: TableKey>(keys: &[(K, usize)]) -> TokenStream {
    let hashed: Vec<&K> = keys.iter().map(|(key, _)| key).collect();
    let state = phf_generator::ptrhash::generate_hash(&hashed);
    let seed = state.seed;
    let pilots = &state.pilots;
    let remap = &state.remap;
    let entries = state.map.iter().map(|&i| {
        let (key, index) = &keys[i];
        let key = key.literal();
        quote!((#key, #index))
    });
    quote! {
        ::rest_hooks::__private::PerfectTable {
            seed: #seed,
            pilots: &[#(#pilots),*],
            remap: &[#(#remap),*],
            entries: &[#(#entries),*],
        }
    }
}
