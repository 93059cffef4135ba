mod entra;
mod faults;
mod helpers;
mod hygiene;
mod keyvault;
