from .lvis_engines import evaluate_lvis, pooled_ap
from .lvis_evaluation import LVISEvaluator, instances_to_lvis_json
from .sem_seg import LongTailSemSegEvaluator, binned_miou, class_bins
