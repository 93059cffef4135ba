mod azure_sdk_rust;
mod harness;
mod identity;
mod python;
