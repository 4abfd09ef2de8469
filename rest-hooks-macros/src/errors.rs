//! Collects the errors of one macro call, so that they are all reported in one build.

/// The errors found so far, folded into one `syn::Error`.
#[derive(Default)]
pub(crate) struct Errors {
    all: Option<syn::Error>,
}

impl Errors {
    /// Adds an error.
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.all {
            Some(all) => all.combine(error),
            None => self.all = Some(error),
        }
    }

    /// All the errors, `None` when there were none.
    pub(crate) fn finish(self) -> Option<syn::Error> {
        self.all
    }
}
