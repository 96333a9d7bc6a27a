// The pay page with Stripe (web/stripe_checkout.py): the card is typed in Stripe.js's own field, which makes a
// PaymentMethod in the browser; only its id (pm_...) is posted. The quote's workflow charges it on the server.
(function () {
  "use strict";
  var form = document.getElementById("stripe-pay");
  if (!form) {
    return;
  }
  var said = document.getElementById("card-error");
  var button = form.querySelector("button[type=submit]");
  if (typeof Stripe === "undefined") {
    said.textContent = form.dataset.unloaded;
    button.disabled = true;
    return;
  }
  var stripe = Stripe(form.dataset.key);
  var card = stripe.elements().create("card");
  card.mount("#card-element");
  var busy = false;
  function failed(message) {
    said.textContent = message || form.dataset.failed;
    busy = false;
    button.disabled = false;
  }
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
    stripe
      .createPaymentMethod({ type: "card", card: card, billing_details: { name: form.elements.holder.value } })
      .then(function (result) {
        if (!result || result.error || !result.paymentMethod) {
          failed(result && result.error && result.error.message);
          return;
        }
        form.elements.payment_method.value = result.paymentMethod.id;
        form.submit();
      })
      .catch(function () {
        failed();
      });
  });
})();
