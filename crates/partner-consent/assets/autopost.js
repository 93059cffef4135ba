// Re-submits the sign-in response from this site's own origin, so the browser attaches the
// SameSite=Lax consent cookie that it withheld from Entra ID's cross-site form_post.
document.getElementById("repost").submit();
