//! Compile-fail tests: each file under `tests/ui/` is one mistake, with the errors
//! it must give in the `.stderr` file beside it.

#[test]
fn mistakes_in_the_event_table_are_compile_errors() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
