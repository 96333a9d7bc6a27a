// The pay page with Stripe (web/stripe_checkout.py): the card is typed in Stripe.js's own field and confirmed
// with the page's SetupIntent, which makes a PaymentMethod in the browser; only its id (pm_...) is posted.
(function () {
  "use strict";
  var form = document.getElementById("stripe-pay");
  if (!form || typeof Stripe === "undefined") {
    return;
  }
  var stripe = Stripe(form.dataset.key);
  var card = stripe.elements().create("card");
  card.mount("#card-element");
  var said = document.getElementById("card-error");
  var button = form.querySelector("button[type=submit]");
  var busy = false;
  form.addEventListener("submit", function (event) {
    if (form.elements.payment_method.value) {
      return; // the PaymentMethod is made: the form goes
    }
    event.preventDefault();
    if (busy) {
      return;
    }
    busy = true;
    button.disabled = true;
    said.textContent = "";
    var details = { name: form.elements.holder.value };
    stripe
      .confirmCardSetup(form.dataset.secret, { payment_method: { card: card, billing_details: details } })
      .then(function (result) {
        if (result.error || !result.setupIntent) {
          said.textContent = (result.error && result.error.message) || form.dataset.failed;
          busy = false;
          button.disabled = false;
          return;
        }
        form.elements.payment_method.value = result.setupIntent.payment_method;
        form.submit();
      });
  });
})();
