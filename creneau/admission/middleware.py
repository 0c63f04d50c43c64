from .gate import gate_answer


class GateAnswer:
    """Gives each answer the waiting room's pass or ticket its request earned (pages and
    API alike, errors included)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return gate_answer(request, self.get_response(request))
