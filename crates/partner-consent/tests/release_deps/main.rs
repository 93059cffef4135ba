//! What production builds link: the shipped binaries carry no test double.

mod no_test_doubles;
