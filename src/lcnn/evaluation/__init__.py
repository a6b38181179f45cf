"""Evaluation of countermeasure scores against a protocol.

* :mod:`lcnn.evaluation.scorefile`: read CM and ASV score files and join them to a protocol;
* :mod:`lcnn.evaluation.report`: pooled, per-attack and per-condition EER and min t-DCF
  (:func:`lcnn.evaluation.report.evaluate_scores`);
* :mod:`lcnn.evaluation.plots`: DET curves and score histograms as PNG files.

Nothing is imported here, so importing one submodule does not pull in the others.
"""
