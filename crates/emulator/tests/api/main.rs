mod entra;
mod helpers;
mod keyvault;
