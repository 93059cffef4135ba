mod entra;
mod helpers;
mod hygiene;
mod keyvault;
